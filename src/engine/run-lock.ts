/**
 * One run at a time per cluster. A run that may change things takes a lock on every host its
 * plays target (--limit ignored: the lock is for the cluster), in name order, all or nothing,
 * before its first task. The lock is a file on each host (`/var/lib/rigger/run.lock`, in a
 * root-only directory) created atomically (`ln` of a complete record: it fails when the file
 * exists); it records who holds it. The holder touches it every few seconds (heartbeat) over
 * the run's own connections; a lock not touched for `staleMs` belongs to a dead run and the
 * next run takes it over, loudly. Takeover, release and the check that a lock is ours run
 * under `flock` on a guard file beside it, so two runs never both take over one dead lock.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Host, Inventory } from '../inventory/types.ts';
import { selectHosts } from '../inventory/pattern.ts';
import { shQuote, type ExecOptions, type ExecResult } from '../transport/types.ts';
import type { Playbook, Step, Play } from './play.ts';

export const RUN_LOCK_DIR = '/var/lib/rigger';
export const DEFAULT_STALE_MS = 60_000;
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Bounds on the lock's own commands: a host that stops answering must not hold the run. */
const ACQUIRE_TIMEOUT_MS = 60_000; // the guard waits up to 30 s for another run's takeover or release
const RELEASE_TIMEOUT_MS = 45_000;

/** What a lock file says about the run holding it. */
export interface LockHolder {
  runId: string;
  controlHost: string;
  pid: number;
  user: string;
  playbook: string;
  /** ISO time the run took the lock. */
  started: string;
}

export interface RunLockOptions {
  /** A lock whose heartbeat is older than this is stale (default 60 s). */
  staleMs?: number;
  /** How often the holder touches its lock files (default 5 s). */
  heartbeatMs?: number;
  /** Take a lock even when it is not stale (the operator knows its run is gone). */
  breakLock?: boolean;
  /** Directory of the lock on each host (default /var/lib/rigger). */
  dir?: string;
  /** Who we are (defaults: a fresh id, this machine, this process, this user). */
  holder?: Partial<Pick<LockHolder, 'runId' | 'controlHost' | 'pid' | 'user'>>;
}

type Exec = (script: string, opts?: ExecOptions) => Promise<ExecResult>;

/** A host to lock, reached over the run's connection (not through the forks limit). */
export interface LockTarget {
  name: string;
  exec: Exec;
}

export interface LockEvents {
  /** A loud warning about one host (a takeover, a lock found gone at release). */
  warn(host: string, message: string): void;
  /** Our lock was taken by another run while we ran: stop starting anything. */
  lost(reason: string): void;
}

/** Hosts a playbook's plays target, --limit ignored (beyondLimit hosts are among them), sorted. */
export function lockHosts(pb: Playbook, inv: Inventory): Host[] {
  const names = new Set<string>();
  const walk = (steps: Step[]): Play[] => steps.flatMap((s) => (s.kind === 'play' ? [s] : walk(s.steps)));
  for (const play of walk(pb.steps)) for (const h of selectHosts(inv, play.hosts)) names.add(h.name);
  return [...names].sort().map((n) => inv.hosts.get(n)!);
}

/** A playbook run that must hold the lock: not check mode, not a read-only playbook. */
export function needsRunLock(pb: Playbook, check: boolean | undefined): boolean {
  return !check && !pb.readOnly;
}

const MARK = '# rigger run-lock';

function header(dir: string): string {
  return `${MARK}\nD=${shQuote(dir)}; L="$D/run.lock"\n`;
}

/** Serialises takeover, release and ownership checks between runs (where flock exists). */
const GUARD = `if command -v flock >/dev/null 2>&1; then
  exec 9>>"$D/run.lock.guard" || exit 70
  flock -w 30 9 || { echo "another run held $D/run.lock.guard for 30 s" >&2; exit 71; }
fi
`;

/**
 * stdin: the record. Prints key=value lines: result=taken|mine|held, and for a lock found
 * there, age=SECONDS and prev.KEY=VALUE lines of its record. Exit 0 taken or mine, 3 held.
 */
export function acquireScript(dir: string, runId: string, staleSeconds: number, breakLock: boolean): string {
  return `${header(dir)}ME=${shQuote(runId)}; STALE=${Math.max(0, Math.floor(staleSeconds))}; BREAK=${breakLock ? 1 : 0}
umask 077
mkdir -p "$D" || exit 70
chmod 700 "$D" || exit 70
${GUARD}T="$L.new.$$"
cat > "$T" || exit 70
held() {
  echo "age=$(( $(date +%s) - $(stat -c %Y "$L" 2>/dev/null || date +%s) ))"
  sed 's/^/prev./' "$L" 2>/dev/null
}
if [ -e "$L" ]; then
  if grep -qxF "run_id=$ME" "$L"; then rm -f "$T"; touch "$L"; echo result=mine; exit 0; fi
  held
  age=$(( $(date +%s) - $(stat -c %Y "$L") ))
  if [ "$age" -lt "$STALE" ] && [ "$BREAK" != 1 ]; then rm -f "$T"; echo result=held; exit 3; fi
  mv -f "$L" "$L.previous" || { rm -f "$T"; exit 70; }
  echo took=1
fi
if ln "$T" "$L" 2>/dev/null; then rm -f "$T"; echo result=taken; exit 0; fi
rm -f "$T"
held
echo result=held
exit 3
`;
}

/** Prints ok, or lost and the record now there (now.KEY=VALUE). Touching is the heartbeat. */
export function heartbeatScript(dir: string, runId: string): string {
  return `${header(dir)}if grep -qxF ${shQuote(`run_id=${runId}`)} "$L" 2>/dev/null; then touch "$L" && echo ok
else echo lost; sed 's/^/now./' "$L" 2>/dev/null; fi
`;
}

/** Removes the lock when it is ours. Prints released, gone, or other and the record there. */
export function releaseScript(dir: string, runId: string): string {
  return `${header(dir)}[ -d "$D" ] || { echo gone; exit 0; }
${GUARD}if [ ! -e "$L" ]; then echo gone
elif grep -qxF ${shQuote(`run_id=${runId}`)} "$L"; then rm -f "$L" && echo released
else echo other; sed 's/^/now./' "$L"; fi
`;
}

const FIELDS: Array<[keyof LockHolder, string]> = [
  ['runId', 'run_id'],
  ['controlHost', 'control_host'],
  ['pid', 'pid'],
  ['user', 'user'],
  ['playbook', 'playbook'],
  ['started', 'started'],
];

const oneLine = (v: unknown) => String(v).replace(/[\x00-\x1f\x7f]+/g, ' ');

export function formatRecord(h: LockHolder): string {
  return FIELDS.map(([k, f]) => `${f}=${oneLine(h[k])}\n`).join('');
}

/** key=value lines; `prefix` selects and strips (prev., now.). */
export function parseRecord(text: string, prefix = ''): Partial<LockHolder> {
  const out: Record<string, string | number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(prefix.length, eq);
    const field = FIELDS.find(([, f]) => f === key);
    if (field) out[field[0]] = field[0] === 'pid' ? Number(line.slice(eq + 1)) : line.slice(eq + 1);
  }
  return out as Partial<LockHolder>;
}

function value(text: string, key: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
}

/** "run ID (user@host, pid N, playbook P) since T": who holds (or held) a lock. */
export function describeHolder(h: Partial<LockHolder>, ageSeconds?: number): string {
  if (!h.runId) return `an unreadable lock record${ageSeconds !== undefined ? ` (last heartbeat ${ageSeconds} s ago)` : ''}`;
  const beat = ageSeconds !== undefined ? `, last heartbeat ${ageSeconds} s ago` : '';
  return `run ${h.runId} (${h.user ?? '?'}@${h.controlHost ?? '?'}, pid ${h.pid ?? '?'}, playbook ${h.playbook ?? '?'}) since ${h.started ?? '?'}${beat}`;
}

export class RunLock {
  readonly holder: LockHolder;
  readonly #dir: string;
  readonly #staleMs: number;
  readonly #heartbeatMs: number;
  readonly #breakLock: boolean;
  #held: LockTarget[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Heartbeats in flight, per host: a host that hangs never delays the others' heartbeats. */
  readonly #beats = new Map<string, Promise<void>>();
  #lost = false;

  constructor(
    playbook: string,
    opts: RunLockOptions,
    private readonly events: LockEvents,
  ) {
    this.#dir = opts.dir ?? RUN_LOCK_DIR;
    this.#staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
    this.#heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.#breakLock = !!opts.breakLock;
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      /* no passwd entry */
    }
    this.holder = {
      runId: opts.holder?.runId ?? randomUUID(),
      controlHost: opts.holder?.controlHost ?? hostname(),
      pid: opts.holder?.pid ?? process.pid,
      user: opts.holder?.user ?? user,
      playbook,
      started: new Date().toISOString(),
    };
  }

  /** Hosts we hold the lock on, in the order taken. */
  get held(): string[] {
    return this.#held.map((t) => t.name);
  }

  /**
   * Takes the lock on every target, in name order. On a lock held by a live run (or any
   * error), releases what it took and returns why; undefined when all are ours.
   */
  async acquire(targets: LockTarget[]): Promise<string | undefined> {
    const script = acquireScript(this.#dir, this.holder.runId, this.#staleMs / 1000, this.#breakLock);
    const record = formatRecord(this.holder);
    for (const t of [...targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      let r: ExecResult;
      try {
        r = await t.exec(script, { stdin: record, timeoutMs: ACQUIRE_TIMEOUT_MS });
      } catch (e) {
        await this.release();
        return `run lock: cannot take the lock on ${t.name}: ${e instanceof Error ? e.message : String(e)}; nothing was changed`;
      }
      const result = value(r.stdout, 'result');
      const age = Number(value(r.stdout, 'age') ?? NaN);
      const prev = parseRecord(r.stdout, 'prev.');
      if (r.code === 3 || result === 'held') {
        await this.release();
        const staleS = Math.round(this.#staleMs / 1000);
        return (
          `run lock: ${t.name} is locked by ${describeHolder(prev, Number.isNaN(age) ? undefined : age)}; ` +
          `this run stopped before changing anything. If that run is gone, its lock goes stale ${staleS} s after its last heartbeat ` +
          `and the next run takes it over; or take it now with --break-lock`
        );
      }
      if (r.code !== 0 || (result !== 'taken' && result !== 'mine')) {
        await this.release();
        const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' ') || `exit ${r.code}`;
        return (
          `run lock: cannot take the lock on ${t.name} (${this.#dir}/run.lock): ${why}` +
          `${/permission denied/i.test(why) ? ' (the lock needs root: log in as root or set become)' : ''}; nothing was changed`
        );
      }
      if (value(r.stdout, 'took') === '1') {
        const stale = !Number.isNaN(age) && age * 1000 >= this.#staleMs;
        this.events.warn(
          t.name,
          `!!! run lock TAKEN OVER from ${describeHolder(prev, Number.isNaN(age) ? undefined : age)}: ` +
            (stale ? `its heartbeat is older than ${Math.round(this.#staleMs / 1000)} s, so that run is taken to be dead` : 'it was not stale: --break-lock') +
            ` (its record is kept in ${this.#dir}/run.lock.previous) !!!`,
        );
      }
      this.#held.push(t);
    }
    this.#timer = setInterval(() => this.#heartbeat(), this.#heartbeatMs);
    this.#timer.unref();
    return undefined;
  }

  #heartbeat(): void {
    if (this.#lost) return;
    const script = heartbeatScript(this.#dir, this.holder.runId);
    for (const t of this.#held) {
      if (this.#beats.has(t.name)) continue; // the last one has not come back yet
      const beat = t
        .exec(script, { timeoutMs: Math.max(10_000, 2 * this.#heartbeatMs) })
        .then((r) => {
          if (r.stdout.startsWith('lost') && !this.#lost && this.#timer) {
            this.#lost = true;
            const now = parseRecord(r.stdout, 'now.');
            this.events.lost(
              `run lock: our lock on ${t.name} was taken by ${now.runId ? describeHolder(now) : 'another run (or removed)'}: no further play or batch was started`,
            );
          }
        })
        .catch(() => undefined) // the connection is gone or hangs: the run reports the host
        .finally(() => this.#beats.delete(t.name));
      this.#beats.set(t.name, beat);
    }
  }

  /** Stops the heartbeat and removes our lock files (only ours). Never throws. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#beats.values());
    const held = this.#held;
    this.#held = [];
    const script = releaseScript(this.#dir, this.holder.runId);
    await Promise.all(
      held.map(async (t) => {
        try {
          const r = await t.exec(script, { timeoutMs: RELEASE_TIMEOUT_MS });
          if (r.stdout.startsWith('other')) {
            this.events.warn(t.name, `run lock: not released: it is now held by ${describeHolder(parseRecord(r.stdout, 'now.'))}`);
          } else if (r.code !== 0) {
            this.events.warn(t.name, `run lock: release failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}; it goes stale in ${Math.round(this.#staleMs / 1000)} s`);
          }
        } catch (e) {
          this.events.warn(t.name, `run lock: could not release (${e instanceof Error ? e.message : String(e)}); it goes stale in ${Math.round(this.#staleMs / 1000)} s`);
        }
      }),
    );
  }
}

export { MARK as RUN_LOCK_MARK };

/**
 * Connects to every host the playbook targets (--limit ignored), then takes the lock on those
 * that answer, in name order. A host that does not answer is not locked: the run reports it
 * unreachable when a play reaches it; one outside the run gets a warning here.
 */
export async function takeRunLock(
  pb: Playbook,
  inv: Inventory,
  opts: RunLockOptions,
  connect: (host: Host) => Promise<{ exec: Exec }>,
  events: LockEvents & { inRun(host: string): boolean },
): Promise<{ lock: RunLock; refused?: string }> {
  const lock = new RunLock(pb.name, opts, events);
  const reached = await Promise.all(
    lockHosts(pb, inv).map((h) =>
      connect(h).then(
        (t): LockTarget => ({ name: h.name, exec: (s, o) => t.exec(s, o) }),
        (e: unknown) => {
          if (!events.inRun(h.name))
            events.warn(h.name, `run lock: not taken on ${h.name} (outside --limit, unreachable: ${e instanceof Error ? e.message : String(e)})`);
          return null;
        },
      ),
    ),
  );
  const refused = await lock.acquire(reached.filter((t): t is LockTarget => t !== null));
  return refused === undefined ? { lock } : { lock, refused };
}
