/**
 * Test-only helpers for the ops: a context over any Transport, fake facts, the engine's own
 * batched-probe path for one or many ops, and a recording transport that answers probes
 * from recorded output (for ops this machine cannot run: service, sysctl, kernel modules).
 */
import type { ExecOptions, ExecResult, Transport, TransportStats } from '../../src/transport/types.ts';
import type { Facts } from '../../src/facts/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import type { OpTask, TaskContext, TaskResult } from '../../src/engine/types.ts';
import { createTaskContext } from '../../src/engine/context.ts';
import { probeBatch } from '../../src/engine/host-runner.ts';
import { settleOp } from '../../src/engine/run-task.ts';
import { memoryInventory } from '../support/inventory.ts';
import { LocalTransport } from '../../src/transport/local.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';

export function fakeFacts(over: Partial<Facts> = {}): Facts {
  return placeholderFacts({ hostname: 'testhost', fqdn: 'testhost.example', ...over });
}

export interface TestCtx {
  ctx: TaskContext;
  warnings: string[];
  logs: string[];
}

export function makeCtx(transport: Transport, opts: { check?: boolean; diff?: boolean; facts?: Facts; host?: Host } = {}): TestCtx {
  const inventory = memoryInventory({ all: [transport.host] });
  const host = opts.host ?? inventory.hosts.get(transport.host)!;
  const warnings: string[] = [];
  const logs: string[] = [];
  const ctx = createTaskContext({
    host,
    facts: opts.facts ?? fakeFacts(),
    inventory,
    transport,
    check: opts.check ?? false,
    diff: opts.diff ?? false,
    warn: (m) => warnings.push(m),
    log: (m) => logs.push(m),
  });
  return { ctx, warnings, logs };
}

/** Probes through the engine's batch path (subshell + markers), then plans and applies. */
export async function converge(ctx: TaskContext, op: OpTask): Promise<TaskResult> {
  const [probe] = await probeBatch(ctx, [op]);
  return settleOp(ctx, op, probe!);
}

/** Several ops probed in ONE batch, then settled in order (as the engine does until a change). */
export async function convergeBatch(ctx: TaskContext, ops: OpTask[]): Promise<TaskResult[]> {
  const probes = await probeBatch(ctx, ops);
  const out: TaskResult[] = [];
  for (let i = 0; i < ops.length; i++) out.push(await settleOp(ctx, ops[i]!, probes[i]!));
  return out;
}

/** Wraps a transport and records every script it runs (to assert what reached the host). */
export class TapTransport implements Transport {
  readonly scripts: string[] = [];
  constructor(readonly inner: Transport) {}
  get host(): string {
    return this.inner.host;
  }
  get stats(): TransportStats {
    return this.inner.stats;
  }
  connect(): Promise<void> {
    return this.inner.connect();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  exec(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.scripts.push(script);
    return this.inner.exec(script, opts);
  }
}

/** The control machine itself through the real LocalTransport (sh -c), recorded. */
export class ShTransport extends TapTransport {
  constructor(name = 'local') {
    const inventory = memoryInventory({ all: [name] });
    const host = inventory.hosts.get(name)!;
    super(new LocalTransport({ ...host, connection: { ...host.connection, transport: 'local' } }));
  }
}

/**
 * Answers each exec from a list of handlers (first match wins) and records every script and
 * its stdin: for plan logic with recorded probe outputs.
 */
export class RecordingTransport implements Transport {
  readonly stats: TransportStats = { execs: 0, bytesOut: 0, bytesIn: 0 };
  readonly calls: { script: string; stdin: string }[] = [];
  constructor(
    private readonly answer: (script: string) => ExecResult = () => ({ code: 0, stdout: '', stderr: '' }),
    readonly host = 'recorded',
  ) {}
  async connect(): Promise<void> {}
  async close(): Promise<void> {}
  async exec(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.stats.execs++;
    this.calls.push({ script, stdin: opts?.stdin === undefined ? '' : opts.stdin.toString() });
    return this.answer(script);
  }
}
