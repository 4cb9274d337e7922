/**
 * Vars of the postgres role (inventory key `postgres`): the server packages only. Patroni
 * creates, configures and runs the cluster (role patroni). Defaults: the host release's own
 * PostgreSQL (Debian 12: 15, Debian 13: 17); the PGDG repository (seeds 000/004) is an option,
 * untested in the lab.
 */
import { z } from 'zod';

export const PostgresVarsSchema = z.strictObject({
  /**
   * Major version. Unset: the one the host's release ships (from facts: Debian 12 -> 15,
   * Debian 13 -> 17); others need source: pgdg. Set it and patroni.postgresVersion together.
   */
  version: z.number().int().min(12).max(99).optional(),
  /** debian: the distribution's packages. pgdg: apt.postgresql.org (documented, untested in the lab). */
  source: z.enum(['debian', 'pgdg']).default('debian'),
  pgdg: z
    .strictObject({
      repoUrl: z.url().default('https://apt.postgresql.org/pub/repos/apt'),
      /** The repository's signing key (seed 004), fetched once with curl. */
      keyUrl: z.url().default('https://www.postgresql.org/media/keys/ACCC4CF8.asc'),
      keyFile: z.string().startsWith('/').default('/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc'),
    })
    .prefault({}),
  /** More packages (e.g. postgresql-17-pgvector). */
  extraPackages: z.array(z.string().min(1)).default([]),
  /**
   * The cluster <version>/main that Debian's package creates and starts on install (seed 004's
   * gotcha). drop-if-empty: drop it when it holds no data and Patroni does not own its data
   * dir; keep: leave it (then Patroni needs another data dir or port).
   */
  stockCluster: z.enum(['drop-if-empty', 'keep']).default('drop-if-empty'),
});

export type PostgresVars = z.output<typeof PostgresVarsSchema>;
