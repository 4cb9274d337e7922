/**
 * Which hosts the cluster already counts as members, remembered on the hosts themselves
 * (/var/lib/rigger/members.json, read with the facts). A run that cannot reach a host the
 * inventory adds (never seen before) stops before it changes anything: otherwise every other
 * host would be reconfigured around a host nobody configured (HAProxy backends, pg_hba,
 * pgBackRest hosts, etcd members, keepalived peers). A known member that is down is the
 * failover case: the others converge without it.
 */
import { shQuote } from '../transport/types.ts';
import { stringListIn } from '../core/text.ts';
import type { Host } from '../inventory/types.ts';

export const MEMBERS_FILE = '/var/lib/rigger/members.json';

/** Appended to the first round trip (facts). */
export const MEMBERS_PROBE = `cat ${MEMBERS_FILE} 2>/dev/null || true`;

export function parseMembers(text: string): string[] {
  return stringListIn(text, 'hosts');
}

/** Writes the list (sorted) atomically. */
export function writeMembersScript(): string {
  return `umask 077 && mkdir -p /var/lib/rigger && cat > ${shQuote(`${MEMBERS_FILE}.tmp`)} && mv -f ${shQuote(`${MEMBERS_FILE}.tmp`)} ${shQuote(MEMBERS_FILE)}`;
}

export function membersBody(hosts: Iterable<string>): string {
  return `${JSON.stringify({ hosts: [...new Set(hosts)].sort(), at: new Date().toISOString() })}\n`;
}

/** Unreachable targets that no reachable host knows as a member: the run must not go on. */
export function unreachableNewcomers(unreachable: string[], known: ReadonlySet<string>): string[] {
  return unreachable.filter((h) => !known.has(h)).sort();
}

/** Whether a host's recorded list already says exactly `hosts`. */
export function sameMembers(recorded: string[], hosts: ReadonlySet<string>): boolean {
  return recorded.length === hosts.size && recorded.every((h) => hosts.has(h));
}

export interface MembershipCheck<H> {
  /** The targets reached, with their connection and records. */
  reached: H[];
  /** Unreachable targets no reachable host records as a member, with why they are unreachable. */
  newcomers: Array<{ host: Host; error: string }>;
}

/** Reaches every target; the unreachable ones nobody knows are newcomers the run must not add. */
export async function checkMembership<H extends { members: string[] }>(targets: Host[], reach: (h: Host) => Promise<H>, describe: (e: unknown) => string): Promise<MembershipCheck<H>> {
  const results = await Promise.all(targets.map((host) => reach(host).then((handle) => ({ host, handle }), (e: unknown) => ({ host, error: describe(e) }))));
  const reached = results.flatMap((r) => ('handle' in r ? [r.handle] : []));
  const down = results.flatMap((r) => ('error' in r ? [{ host: r.host, error: r.error }] : []));
  const known = new Set(reached.flatMap((h) => h.members));
  const names = new Set(unreachableNewcomers(down.map((d) => d.host.name), known));
  return { reached, newcomers: down.filter((d) => names.has(d.host.name)) };
}

/** Why the run stopped, for the recap. */
export function newcomersMessage(names: string[]): string {
  return (
    `${names.join(', ')} cannot be reached and ${names.length === 1 ? 'is' : 'are'} not yet a member of the cluster: ` +
    'every other host would be configured with it (HAProxy backends, pg_hba, pgBackRest, etcd, keepalived peers). Nothing was changed; ' +
    'make it reachable, or take it out of the inventory, and run again.'
  );
}

/**
 * Where the record changes after a run that reached `reached`: each such host and the body to
 * write. Hosts the run took out of the cluster (`gone`, departing.ts) leave the record.
 */
export function membersToWrite<H extends { members: string[]; host: { name: string } }>(reached: H[], gone: ReadonlySet<string> = new Set()): { hosts: H[]; body: string } {
  const all = new Set([...reached.map((h) => h.host.name), ...reached.flatMap((h) => h.members)].filter((n) => !gone.has(n)));
  return { hosts: reached.filter((h) => !sameMembers(h.members, all)), body: membersBody(all) };
}
