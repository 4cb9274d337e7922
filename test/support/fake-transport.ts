/**
 * An in-memory host for engine unit tests and the engine benchmark. It speaks only the
 * engine's own protocol (batched probes, pending-handler file) plus two toy commands the
 * test ops use: `get KEY` (probe) and `set KEY VALUE` (apply). Never proof that anything
 * works on a real host — the sshd and lab tests are.
 */
import type { ExecOptions, ExecResult, Transport, TransportStats } from '../../src/transport/types.ts';
import { TransportError } from '../../src/transport/types.ts';
import type { Facts } from '../../src/facts/types.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import type { Gather } from '../../src/engine/host-pool.ts';
import { PENDING_FILE, parsePending } from '../../src/engine/pending.ts';
import { MEMBERS_FILE, parseMembers } from '../../src/engine/membership.ts';
import { RUN_LOCK_MARK } from '../../src/engine/run-lock.ts';
import { defineFakeOp } from './fake-ops.ts';

export interface FakeHostState {
  values: Map<string, string>;
  files: Map<string, string>;
  /** Every command run, in order (probes batched count once). */
  commands: string[];
  unreachable?: boolean;
  /** `set` of these keys fails (exit 1). */
  failOn?: Set<string>;
  /** The run lock's record (run-lock.ts), emulated; `lockAgeS` is how old its heartbeat is. */
  lock?: string;
  lockAgeS?: number;
}

export function fakeHostState(init: Record<string, string> = {}): FakeHostState {
  return { values: new Map(Object.entries(init)), files: new Map(), commands: [] };
}

const PROBE_RE = /\(\n([\s\S]*?)\n\) <\/dev\/null 2>\/dev\/null; printf '\\n@@RG:(\w+):(\d+):%d@@\\n' \$\?/g;

export class FakeTransport implements Transport {
  readonly stats: TransportStats = { execs: 0, bytesIn: 0, bytesOut: 0 };
  constructor(
    readonly host: string,
    readonly state: FakeHostState,
  ) {}

  async connect(): Promise<void> {
    if (this.state.unreachable) throw new TransportError('unreachable', this.host, 'connect ECONNREFUSED (fake)');
  }

  async close(): Promise<void> {}

  async exec(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.stats.execs++;
    this.stats.bytesOut += script.length + (opts?.stdin?.length ?? 0);
    this.state.commands.push(script);
    const r = this.#run(script, opts);
    this.stats.bytesIn += r.stdout.length + r.stderr.length;
    return r;
  }

  #run(script: string, opts?: ExecOptions): ExecResult {
    const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
    if (script.includes('@@RG:')) {
      let out = '';
      for (const m of script.matchAll(PROBE_RE)) {
        const r = this.#run(m[1]!);
        out += `${r.stdout}\n@@RG:${m[2]}:${m[3]}:${r.code}@@\n`;
      }
      return ok(out);
    }
    if (script.startsWith(RUN_LOCK_MARK)) return this.#lock(script, opts);
    if (script.startsWith(`cat ${PENDING_FILE}`)) {
      const pending = this.state.files.get(PENDING_FILE) ?? '';
      // The gather's one round trip: owed handlers, then the recorded members.
      return ok(script.includes(MEMBERS_SPLIT) ? `${pending}\n${MEMBERS_SPLIT}\n${this.state.files.get(MEMBERS_FILE) ?? ''}` : pending);
    }
    if (script.includes(`cat > '${MEMBERS_FILE}.tmp'`)) {
      this.state.files.set(MEMBERS_FILE, String(opts?.stdin ?? ''));
      return ok();
    }
    if (script.startsWith('rm -f ' + PENDING_FILE)) {
      this.state.files.delete(PENDING_FILE);
      return ok();
    }
    if (script.includes(`cat > ${PENDING_FILE}.tmp`)) {
      this.state.files.set(PENDING_FILE, String(opts?.stdin ?? ''));
      return ok();
    }
    const get = /^get (\S+)$/.exec(script.trim());
    if (get) return this.state.values.has(get[1]!) ? ok(this.state.values.get(get[1]!)) : { code: 1, stdout: '', stderr: '' };
    const set = /^set (\S+) (.*)$/.exec(script.trim());
    if (set) {
      if (this.state.failOn?.has(set[1]!)) return { code: 1, stdout: '', stderr: `cannot set ${set[1]}` };
      this.state.values.set(set[1]!, set[2]!);
      return ok();
    }
    return { code: 127, stdout: '', stderr: `fake: unknown command: ${script.slice(0, 80)}` };
  }

  /** The run lock's three scripts, told apart by what they do; the same answers as the real ones. */
  #lock(script: string, opts?: ExecOptions): ExecResult {
    const s = this.state;
    const me = /ME='([^']*)'/.exec(script)?.[1] ?? /run_id=([^']*)'/.exec(script)?.[1] ?? '';
    const mine = s.lock !== undefined && s.lock.split('\n').includes(`run_id=${me}`);
    const prefixed = (p: string) => (s.lock ?? '').split('\n').filter(Boolean).map((l) => `${p}${l}\n`).join('');
    const ok = (stdout: string, code = 0): ExecResult => ({ code, stdout, stderr: '' });
    if (script.includes('STALE=')) {
      if (mine) return ok('result=mine\n');
      let took = '';
      if (s.lock !== undefined) {
        const stale = Number(/STALE=(\d+)/.exec(script)![1]);
        const held = `age=${s.lockAgeS ?? 0}\n${prefixed('prev.')}`;
        if ((s.lockAgeS ?? 0) < stale && !script.includes('BREAK=1')) return ok(`${held}result=held\n`, 3);
        took = `${held}took=1\n`;
      }
      s.lock = String(opts?.stdin ?? '');
      s.lockAgeS = 0;
      return ok(`${took}result=taken\n`);
    }
    if (script.includes('rm -f "$L"')) {
      if (s.lock === undefined) return ok('gone\n');
      if (!mine) return ok(`other\n${prefixed('now.')}`);
      delete s.lock;
      return ok('released\n');
    }
    if (mine) return ok('ok\n');
    return ok(`lost\n${prefixed('now.')}`);
  }
}

const MEMBERS_SPLIT = '@@FAKE:MEMBERS@@';

export const FAKE_FACTS: Facts = placeholderFacts({ hostname: 'fake', fqdn: 'fake' });

/** Facts are canned; the owed handlers come from the fake host's pending file, as on a real host. */
export const fakeGather: Gather = async (exec, host) => {
  const r = await exec(`cat ${PENDING_FILE} 2>/dev/null || true; echo '${MEMBERS_SPLIT}'; cat ${MEMBERS_FILE} 2>/dev/null || true`);
  const [pending = '', members = ''] = r.stdout.split(`\n${MEMBERS_SPLIT}\n`);
  return { facts: { ...FAKE_FACTS, hostname: host.name }, pending: parsePending(pending), members: parseMembers(members) };
};

export { defineFakeOp };
