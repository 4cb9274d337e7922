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
