/**
 * The patroni role's pure rules, shared with the day-2 playbooks: when a cluster counts as
 * whole, the order members restart in, and which settings force the leader first.
 */
import { MASK } from '../../src/core/secret.ts';
import { isRunning, type ClusterState, type Member } from './live.ts';

/** What is wrong with the cluster for the gate, or null when every present member is fine. */
export function gateProblem(cs: ClusterState, expected: string[], synchronous: boolean): string | null {
  const names = new Set(cs.members.map((m) => m.name));
  const missing = expected.filter((n) => !names.has(n));
  if (missing.length) return `not in the cluster yet: ${missing.join(', ')}`;
  const leaders = cs.members.filter((m) => m.role === 'leader');
  if (leaders.length !== 1) return `${leaders.length} leaders`;
  const down = cs.members.filter((m) => expected.includes(m.name) && !isRunning(m));
  if (down.length) return `not running: ${down.map((m) => `${m.name} (${m.state})`).join(', ')}`;
  const timelines = new Set(cs.members.filter(isRunning).map((m) => m.timeline));
  if (timelines.size > 1) return `members on different timelines: ${[...timelines].join(', ')}`;
  if (synchronous && cs.members.length > 1 && !cs.members.some((m) => m.role === 'sync_standby')) return 'no synchronous standby yet';
  return null;
}

/**
 * Replicas first, then the synchronous standby, the leader last. Except after lowering a
 * setting a hot standby must keep at least as high as its primary (max_connections, ...):
 * Patroni keeps the replicas at the leader's value until the leader restarted, so the
 * leader goes first.
 */
export function restartOrder(members: Member[], leaderFirst = false): Member[] {
  const rank = (m: Member) => (m.role === 'replica' ? 0 : m.role === 'sync_standby' ? 1 : leaderFirst ? -1 : 2);
  return [...members].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** Settings a hot standby needs at least as high as its primary's (PostgreSQL docs, Patroni). */
export const STANDBY_LIMITS = ['max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction'];

/** password: lines masked, so a diff of patroni.yml can be shown. */
export function maskPasswords(yml: string): string {
  return yml.replace(/^(\s*password:).*$/gm, `$1 ${MASK}`);
}

/** `patroni 3.0.2` (patroni --version), `3.0.2-1+deb12u1` or `1:3.0.2-1` (dpkg) -> [3, 0, 2]. */
export function patroniVersion(text: string): [number, number, number] | null {
  const m = /(?:^|\s|:)(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/**
 * Patroni 3.0.0-3.0.2 (Debian 12 ships 3.0.2): a leader cut off from etcd for longer than ttl
 * writes the leader key back from its stale etcd3 cache once the network returns and stays
 * primary beside the new leader: two leaders, and the new one's timeline is abandoned
 * (patroni/patroni#2689, #2693; fixed in 3.0.3). The warning names the fix; null when safe.
 */
export function splitBrainRisk(installed: string): string | null {
  const v = patroniVersion(installed);
  if (!v || v[0] !== 3 || v[1] !== 0 || v[2] > 2) return null;
  return (
    `Patroni ${v.join('.')} has a known split-brain bug: a leader partitioned from etcd longer than ttl takes the leader key back ` +
    'from its stale cache when the network returns, and two leaders diverge (patroni/patroni#2689, #2693; fixed in 3.0.3). ' +
    'Fix: Debian 13 (patroni 4.0.7), or a fixed Patroni package (3.0.3 or later, e.g. from apt.postgresql.org, with patroni.packages)'
  );
}

/** Prints the installed patroni package's version (empty when not installed). */
export const PATRONI_VERSION_PROBE = "dpkg-query -W -f='${Version}' patroni 2>/dev/null || true";
