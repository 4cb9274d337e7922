/**
 * What a host's distribution release implies for the roles' defaults: the PostgreSQL major
 * version its own packages ship (Debian 12: 15, Debian 13: 17). Roles derive versions, data
 * directories, binaries and unit names from it unless their vars say otherwise.
 */
import { TaskError } from '../core/errors.ts';
import type { Facts } from './types.ts';

/** Debian major release -> PostgreSQL major of its postgresql package. */
const DEBIAN_POSTGRES: Readonly<Record<string, number>> = { '11': 13, '12': 15, '13': 17 };

/** Debian's release number from the facts ('12' from VERSION_ID 12 or 12.8); '' when unknown (testing/sid). */
function debianRelease(os: Facts['os']): string {
  return /^(\d+)/.exec(os.version)?.[1] ?? '';
}

/** The PostgreSQL major Debian `release` ('12', '13') ships, or null. */
export function debianPostgresVersion(release: string): number | null {
  return DEBIAN_POSTGRES[release] ?? null;
}

/** The PostgreSQL major the host's distribution ships, or null when rigger knows none. */
export function distributionPostgresVersion(facts: Pick<Facts, 'os'>): number | null {
  if (facts.os.id !== 'debian') return null;
  return debianPostgresVersion(debianRelease(facts.os));
}

/** As above, or a TaskError that names the var to set (`field`). */
export function requirePostgresVersion(facts: Pick<Facts, 'os'>, field: string): number {
  const v = distributionPostgresVersion(facts);
  if (v !== null) return v;
  const os = `${facts.os.id} ${facts.os.version || '?'}${facts.os.codename ? ` (${facts.os.codename})` : ''}`;
  throw new TaskError(`no default PostgreSQL version for ${os}: set ${field} (Debian 12 ships 15, Debian 13 ships 17)`);
}
