/**
 * Live etcd state through etcdctl on a member (v3 API): members, health, quorum.
 */
import { shQuote } from '../../src/transport/types.ts';
import type { Remote } from '../../src/toolkit/index.ts';

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
    // 3 s: a healthy endpoint answers in milliseconds; a partitioned one costs the whole timeout.
    `${etcdctl(endpoints, 'endpoint health --cluster', 3)} 2>&1; echo "@@health $?"; ${etcdctl(endpoints, 'member list -w json')} 2>&1; echo "@@members $?"`,
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

export type Quorum = { ok: true; started: number; down: string[] } | { ok: false; seen: string };

/** Client URLs etcdctl's `endpoint health` calls healthy, from its verdict lines. */
export function healthyEndpoints(summary: string): Set<string> {
  return new Set([...summary.matchAll(/(\S+) is healthy/g)].map((m) => m[1]!));
}

/**
 * The cluster healthy and every wanted member (by peer URL) started, as the cluster itself
 * reports it through `endpoints`; otherwise what was seen instead.
 */
export async function quorum(remote: Remote, endpoints: string[], want: Array<{ name: string; peerUrl: string }>, mayBeDown: ReadonlySet<string> = new Set()): Promise<Quorum> {
  const { health, members: list } = await healthAndMembers(remote, endpoints);
  if (!list.ok) return { ok: false, seen: health.healthy ? list.error : health.summary };
  const started = list.members.filter((m) => m.name !== '');
  const absent = want.filter((w) => !mayBeDown.has(w.name) && !started.some((m) => m.peerUrls.includes(w.peerUrl))).map((w) => w.name);
  if (absent.length > 0)
    return { ok: false, seen: `members: ${list.members.map((m) => `${m.name || '(unstarted)'} ${m.peerUrls.join(',')}`).join('; ')}; not started yet: ${absent.join(', ')}` };
  if (health.healthy) return { ok: true, started: started.length, down: [] };
  // A member the run does not reach may be down: the others healthy and a majority of the
  // cluster is still a healthy quorum; anything else is not.
  const up = healthyEndpoints(health.summary);
  const isUp = (m: EtcdMemberInfo) => m.clientUrls.some((u) => up.has(u));
  const down = list.members.filter((m) => !isUp(m));
  const stray = down.filter((m) => !mayBeDown.has(m.name));
  if (stray.length > 0 || (list.members.length - down.length) * 2 <= list.members.length) return { ok: false, seen: health.summary };
  return { ok: true, started: started.length, down: down.map((m) => m.name || m.peerUrls.join(',')) };
}
