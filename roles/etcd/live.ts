/**
 * Live etcd state through etcdctl on a member (v3 API), and the deadline loop every wait of
 * the database roles uses: poll, remember what was last seen, and say it on timeout.
 */
import { shQuote } from '../../src/transport/types.ts';
import { TaskError, type OpTask, type RunOutcome, type TaskContext } from '../../src/engine/types.ts';
import { runOp } from '../../src/engine/run-task.ts';
import type { ExecOptions, ExecResult } from '../../src/transport/types.ts';

/** What the helpers need: one host's exec (a TaskContext or a play hook's HostView). */
export interface Remote {
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
}

export type Poll<T> = { done: true; value: T } | { done: false; seen: string };

/**
 * Calls `check` every `intervalMs` until it is done or `timeoutMs` passed; on timeout throws
 * a TaskError naming what it waited for, for how long, and the last state seen (plus `more()`,
 * e.g. the tail of a journal, when given).
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<Poll<T>>,
  opts: { intervalMs?: number; more?: () => Promise<string> } = {},
): Promise<T> {
  const started = Date.now();
  let seen = 'nothing yet';
  for (;;) {
    const r = await check();
    if (r.done) return r.value;
    seen = r.seen;
    if (Date.now() - started >= timeoutMs) break;
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 1000));
  }
  let extra = '';
  if (opts.more) extra = await opts.more().catch((e: unknown) => `(could not read more: ${String(e)})`);
  throw new TaskError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last seen: ${seen}${extra ? `\n${extra}` : ''}`);
}

/** The last lines of a unit's journal, for error messages. */
export async function journalTail(remote: Remote, unit: string, lines = 20): Promise<string> {
  const r = await remote.exec(`journalctl -u ${shQuote(unit)} -n ${lines} --no-pager -o short-iso 2>&1 | tail -n ${lines}`);
  return `last lines of journalctl -u ${unit}:\n${r.stdout.trim() || '(empty)'}`;
}

export interface EtcdMemberInfo {
  /** Hex member id, as etcdctl member remove wants it. */
  id: string;
  /** Empty while a member was added but has not started yet. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** etcdctl with short timeouts, so a dead endpoint costs seconds, not a minute. */
export function etcdctl(endpoints: string[], args: string, commandTimeoutS = 5): string {
  return `ETCDCTL_API=3 etcdctl --dial-timeout=2s --command-timeout=${commandTimeoutS}s --endpoints=${shQuote(endpoints.join(','))} ${args}`;
}

interface MemberListJson {
  members?: Array<{ ID?: number | string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }>;
}

/**
 * Member ids come as JSON numbers above 2^53: read the raw digits from the text, not through
 * JSON.parse's doubles.
 */
export function parseMemberList(json: string): EtcdMemberInfo[] {
  const ids = [...json.matchAll(/"ID"\s*:\s*(\d+)/g)].map((m) => BigInt(m[1]!).toString(16));
  const parsed = JSON.parse(json) as MemberListJson;
  return (parsed.members ?? []).map((m, i) => ({
    id: ids[i] ?? String(m.ID ?? ''),
    name: m.name ?? '',
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
    isLearner: m.isLearner ?? false,
  }));
}

export type MemberListResult = { ok: true; members: EtcdMemberInfo[] } | { ok: false; error: string };

/** `member list` through any of the endpoints. */
export async function memberList(remote: Remote, endpoints: string[], commandTimeoutS = 5): Promise<MemberListResult> {
  const r = await remote.exec(`${etcdctl(endpoints, 'member list -w json', commandTimeoutS)} 2>&1`);
  if (r.code !== 0) return { ok: false, error: r.stdout.trim().split('\n').slice(-3).join(' ') || `exit ${r.code}` };
  try {
    return { ok: true, members: parseMemberList(r.stdout) };
  } catch {
    return { ok: false, error: `unreadable member list: ${r.stdout.slice(0, 200)}` };
  }
}

export type HealthResult = { healthy: true; summary: string } | { healthy: false; summary: string };

function healthOf(code: number, out: string): HealthResult {
  // etcdctl interleaves gRPC retry warnings (JSON lines): keep its own verdicts.
  const lines = out.trim().split('\n').filter((l) => l && !l.startsWith('{'));
  const summary = lines.join('; ') || `exit ${code}`;
  return code === 0 ? { healthy: true, summary } : { healthy: false, summary };
}

/** `endpoint health --cluster`: every member the cluster knows must answer healthy. */
export async function clusterHealth(remote: Remote, endpoints: string[]): Promise<HealthResult> {
  const r = await remote.exec(`${etcdctl(endpoints, 'endpoint health --cluster')} 2>&1`);
  return healthOf(r.code, r.stdout);
}

/** Health and member list in one round trip. */
export async function healthAndMembers(remote: Remote, endpoints: string[]): Promise<{ health: HealthResult; members: MemberListResult }> {
  const r = await remote.exec(
    `${etcdctl(endpoints, 'endpoint health --cluster')} 2>&1; echo "@@health $?"; ${etcdctl(endpoints, 'member list -w json')} 2>&1; echo "@@members $?"`,
  );
  const h = /^([\s\S]*?)@@health (\d+)\n([\s\S]*?)@@members (\d+)\s*$/.exec(r.stdout);
  if (!h) return { health: { healthy: false, summary: r.stdout.trim() || r.stderr.trim() || `exit ${r.code}` }, members: { ok: false, error: 'no answer' } };
  const health = healthOf(Number(h[2]), h[1]!);
  const listOut = h[3]!;
  if (Number(h[4]) !== 0) return { health, members: { ok: false, error: listOut.trim().split('\n').slice(-3).join(' ') || `exit ${h[4]}` } };
  try {
    return { health, members: { ok: true, members: parseMemberList(listOut.split('\n').filter((l) => !l.startsWith('{"level"')).join('\n')) } };
  } catch {
    return { health, members: { ok: false, error: `unreadable member list: ${listOut.slice(0, 200)}` } };
  }
}

export type Quorum = { ok: true; started: number } | { ok: false; seen: string };

/**
 * The cluster healthy and every wanted member (by peer URL) started, as the cluster itself
 * reports it through `endpoints`; otherwise what was seen instead.
 */
export async function quorum(remote: Remote, endpoints: string[], want: Array<{ name: string; peerUrl: string }>): Promise<Quorum> {
  const { health, members: list } = await healthAndMembers(remote, endpoints);
  if (!health.healthy) return { ok: false, seen: health.summary };
  if (!list.ok) return { ok: false, seen: list.error };
  const started = list.members.filter((m) => m.name !== '');
  const absent = want.filter((w) => !started.some((m) => m.peerUrls.includes(w.peerUrl))).map((w) => w.name);
  if (absent.length > 0)
    return { ok: false, seen: `members: ${list.members.map((m) => `${m.name || '(unstarted)'} ${m.peerUrls.join(',')}`).join('; ')}; not started yet: ${absent.join(', ')}` };
  return { ok: true, started: started.length };
}

/**
 * Runs an op (built at run time, e.g. a file whose content depends on live state) inside a
 * custom step and returns its outcome; a failure becomes the step's error.
 */
export async function settleInside(ctx: TaskContext, op: OpTask): Promise<RunOutcome> {
  const r = await runOp(ctx, op);
  switch (r.status) {
    case 'changed':
      return { changed: true, summary: r.summary, ...(r.diff !== undefined ? { diff: r.diff } : {}) };
    case 'failed':
      throw new TaskError(r.error);
    case 'skipped':
      return { changed: false, message: r.reason };
    default:
      return { changed: false, ...(r.message ? { message: r.message } : {}) };
  }
}

/**
 * Runs `fn` only after every earlier caller with the same key finished (one member at a time
 * across the hosts of a run, e.g. restarts that must keep quorum). When an earlier one failed,
 * later ones do not run: one member down is what the cluster can afford.
 */
export async function oneAtATime<T>(shared: Map<string, unknown>, key: string, fn: () => Promise<T>): Promise<T> {
  const prev = (shared.get(key) as Promise<unknown> | undefined) ?? Promise.resolve();
  const mine = prev.then(fn, (e: unknown) => {
    throw new TaskError(`not done: an earlier one failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  });
  shared.set(key, mine);
  return mine;
}
