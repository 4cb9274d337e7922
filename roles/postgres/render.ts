/**
 * Small files of the postgres role: postgresql-common's createcluster drop-in (so no stock
 * cluster is created on install) and the PGDG apt source.
 */
import type { PostgresVars } from './vars.ts';
import type { Facts } from '../../src/facts/types.ts';
import { requirePostgresVersion } from '../../src/facts/release.ts';

/** Read by pg_createcluster through createcluster.conf's include_dir. */
export const CREATECLUSTER_DROPIN = '/etc/postgresql-common/createcluster.d/50-rigger.conf';
export const PGDG_SOURCE = '/etc/apt/sources.list.d/pgdg.list';

export function renderCreateclusterDropin(): string {
  return [
    '# Managed by rigger (role postgres): Patroni creates and owns the cluster,',
    '# so installing a server package must not create and start one of its own.',
    'create_main_cluster = false',
    '',
  ].join('\n');
}

/** One deb line for the host's release, signed by the PGDG key only. */
export function renderPgdgSource(v: PostgresVars, codename: string): string {
  if (!/^[a-z]+$/.test(codename)) throw new Error(`unexpected release codename "${codename}"`);
  return [
    '# Managed by rigger (role postgres).',
    `deb [signed-by=${v.pgdg.keyFile}] ${v.pgdg.repoUrl} ${codename}-pgdg main`,
    '',
  ].join('\n');
}

export function serverPackages(v: PostgresVars, version: number): string[] {
  return [`postgresql-${version}`, `postgresql-client-${version}`, ...v.extraPackages];
}

/** postgres.version, else the PostgreSQL major the host's release ships. */
export function versionOf(v: PostgresVars, facts: Pick<Facts, 'os'>): number {
  return v.version ?? requirePostgresVersion(facts, 'postgres.version');
}
