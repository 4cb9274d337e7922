/**
 * Vars of the pgbackrest role (inventory: `pgbackrest:`), played on the database hosts and
 * the repository host together. Defaults: the seeds (stanza main, repo1-path
 * /var/lib/pgbackrest, retention-full 2, log levels info/detail, zst level 3) and Debian 12's
 * packages (pgbackrest 2.45 on Debian 12, 2.55 on 13, reads /etc/pgbackrest.conf; data in
 * /var/lib/postgresql/<version>/main, the version the host's release ships unless set).
 */
import { z } from 'zod';
import { SecretSchema } from '../../src/core/secret.ts';

const Name = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, _ . -');
const UserName = z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name');
const Path = z.string().regex(/^\/[^\s]*$/, 'expected an absolute path without blanks');
/** systemd OnCalendar expression, e.g. "Sun *-*-* 02:00:00". */
const Calendar = z.string().regex(/^[^\n]+$/);

export const PgbackrestVarsSchema = z.strictObject({
  package: z.string().default('pgbackrest'),
  /** Stanza name: one per PostgreSQL cluster (seeds: main). */
  stanza: Name.default('main'),
  /** Where pgbackrest reads its config. Debian's package ships /etc/pgbackrest.conf. */
  configPath: Path.default('/etc/pgbackrest.conf'),
  /** Inventory groups: database hosts (pg1..pgN of the stanza) and the repository host (first host). */
  dbGroup: z.string().default('postgres'),
  repoGroup: z.string().default('backup'),
  /** OS user owning the repository on the repo host (pgBackRest user guide: pgbackrest). */
  repoUser: UserName.default('pgbackrest'),
  /** OS user running PostgreSQL on the database hosts (Debian: postgres), also pg1-host-user. */
  pgUser: UserName.default('postgres'),
  /** Home of pgUser (Debian: /var/lib/postgresql), where its ~/.ssh lives. */
  pgUserHome: Path.default('/var/lib/postgresql'),
  /** Home of repoUser (created by the role). */
  repoUserHome: Path.default('/home/pgbackrest'),
  repo: z
    .strictObject({
      /** repo1-path on the repo host (seeds: /var/lib/pgbackrest). */
      path: Path.default('/var/lib/pgbackrest'),
      /** Full backups to keep (seeds: 2). */
      retentionFull: z.number().int().min(1).max(9999999).default(2),
      /** Differential backups to keep; unset: pgbackrest's default (as many as fulls allow). */
      retentionDiff: z.number().int().min(1).max(9999999).optional(),
      /** Repository encryption; the passphrase is a secret (file mode 0640, never in args). */
      cipherType: z.enum(['none', 'aes-256-cbc']).default('none'),
      cipherPass: SecretSchema.optional(),
    })
    .prefault({}),
  /** Compression of backups and archived WAL (seeds: zst level 3). */
  compressType: z.enum(['none', 'gz', 'lz4', 'zst', 'bz2']).default('zst'),
  compressLevel: z.number().int().min(0).max(22).default(3),
  /** Parallel processes for backup/restore (seeds: 4; the lab hosts have 2 cores). */
  processMax: z.number().int().min(1).max(64).default(2),
  /** Take backups from a checkpoint requested immediately instead of waiting for the next one. */
  startFast: z.boolean().default(true),
  /** Async archiving with a spool dir: faster archive-push under load. Off: simpler. */
  archiveAsync: z.boolean().default(false),
  spoolPath: Path.default('/var/spool/pgbackrest'),
  logPath: Path.default('/var/log/pgbackrest'),
  logLevelConsole: z.enum(['off', 'error', 'warn', 'info', 'detail', 'debug', 'trace']).default('info'),
  logLevelFile: z.enum(['off', 'error', 'warn', 'info', 'detail', 'debug', 'trace']).default('detail'),
  pg: z
    .strictObject({
      /**
       * Data directory on the database hosts; must match Patroni's postgresql.data_dir. Unset:
       * /var/lib/postgresql/<version>/main for the PostgreSQL the host's release ships (15 on
       * Debian 12, 17 on 13); set it when patroni.postgresVersion or patroni.dataDir is set.
       */
      path: Path.optional(),
      port: z.number().int().min(1).max(65535).default(5432),
      socketPath: Path.default('/var/run/postgresql'),
      /** Database superuser pgbackrest connects as (through the local socket, peer auth). */
      user: UserName.default('postgres'),
    })
    .prefault({}),
  /**
   * The archive_command the database hosts must run (set through Patroni's DCS parameters
   * by the patroni role). Checked on the leader before the stanza is created.
   */
  checkArchiveCommand: z.boolean().default(true),
  /** Take a first full backup when the repository has none. */
  initialFullBackup: z.boolean().default(true),
  /** Backups from systemd timers on the repo host (seed 002: full Sunday 02:00, diff Mon-Sat). */
  schedule: z
    .strictObject({
      enabled: z.boolean().default(true),
      full: Calendar.default('Sun *-*-* 02:00:00'),
      diff: Calendar.default('Mon..Sat *-*-* 02:00:00'),
    })
    .prefault({}),
  /** Deadline for the cluster to answer (stanza-create, check, first backup). */
  timeoutS: z.number().int().positive().default(300),
});

export type PgbackrestVars = z.output<typeof PgbackrestVarsSchema>;

/** The archive_command pgbackrest expects for a stanza. */
export function archiveCommand(stanza: string): string {
  return `pgbackrest --stanza=${stanza} archive-push %p`;
}
