/**
 * Builds the TaskContext a task sees on one host, over that host's one transport.
 */
import type { Transport, ExecOptions } from '../transport/types.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Facts } from '../facts/types.ts';
import { TaskError, type Delegate, type TaskContext } from './types.ts';
import { RunState } from './run-state.ts';

export interface ContextParts {
  host: Host;
  facts: Facts;
  inventory: Inventory;
  /** Only exec is used: the engine passes its fork-limited exec for the host. */
  transport: Pick<Transport, 'exec'>;
  check?: boolean;
  diff?: boolean;
  shared?: RunState;
  barrier?: (name: string) => Promise<void>;
  delegate?: (host: string) => Promise<Delegate>;
  log?: (message: string) => void;
  warn?: (message: string) => void;
}

export function createTaskContext(p: ContextParts): TaskContext {
  const exec = (script: string, opts?: ExecOptions) => p.transport.exec(script, opts);
  return {
    host: p.host,
    facts: p.facts,
    inventory: p.inventory,
    check: p.check ?? false,
    diff: p.diff ?? false,
    exec,
    async run(script, opts) {
      const r = await exec(script, opts);
      if (r.code !== 0) throw new TaskError(commandFailure(script, r.code, r.stderr || r.stdout));
      return r.stdout;
    },
    log: p.log ?? (() => {}),
    warn: p.warn ?? (() => {}),
    shared: p.shared ?? new RunState(),
    barrier: p.barrier ?? (async () => {}),
    delegate:
      p.delegate ??
      (async (host) => {
        throw new TaskError(`cannot reach ${host} from this context (no run to delegate through)`);
      }),
  };
}

/** "command failed (exit 1): <first line of script>: <last lines of stderr>" */
export function commandFailure(script: string, code: number, output: string): string {
  const head = script.trim().split('\n')[0]!.slice(0, 120);
  const tail = output.trim().split('\n').slice(-8).join('\n');
  return `command failed (exit ${code}): ${head}${tail ? `\n${tail}` : ''}`;
}
