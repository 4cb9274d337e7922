/**
 * Vars of the patroni role (inventory key `patroni`). Defaults follow the seeds: scope and
 * namespace of seed 004, the DCS settings every seed agrees on (ttl 30, loop_wait 10,
 * retry_timeout 10, maximum_lag_on_failover 1 MB, synchronous_mode, pg_rewind, slots),
 * initdb with data checksums, scram-sha-256 everywhere, REST API on 8008, watchdog automatic
 * with a 5 s safety margin; paths from Debian's postgresql and patroni packages, for the
 * PostgreSQL version of the host's release unless set.
 */
import { z } from 'zod';
import { SecretSchema } from '../../src/core/secret.ts';
import { HostAddress, ListenAddress, ListenAddresses, NetworkOrAddress } from '../../src/core/net.ts';

const port = z.number().int().min(1).max(65535);
const name = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only');

/** A PostgreSQL setting name (a free map of them: any setting, custom `ext.name` ones too). */
const ParameterName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, 'a PostgreSQL setting name');

/** A PostgreSQL setting value; null removes one of the role's defaults. */
export const ParameterValue = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: 'expected a setting value: a string, a number, a boolean, or null to drop it',
});
export type ParameterValue = z.output<typeof ParameterValue>;

const User = (username: string) =>
  z.strictObject({
    username: name.default(username),
    password: SecretSchema,
  });

export const PatroniVarsSchema = z
  .strictObject({
    /** Cluster name in the DCS (seed 004: pg-cluster). All members of one cluster share it. */
    scope: name.default('pg-cluster'),
    /** DCS key prefix (seeds: /service/). */
    namespace: z.string().regex(/^\/([^/\s]+\/)*$/, 'a path like /service/').default('/service/'),
    /** Inventory groups this role reads: the cluster members, the DCS, the proxies, the backup host. */
    groups: z
      .strictObject({
        postgres: z.string().default('postgres'),
        etcd: z.string().default('etcd'),
        balancers: z.string().default('balancers'),
        backup: z.string().default('backup'),
      })
      .prefault({}),
    /**
     * Address this member's PostgreSQL and REST API advertise. Unset: the host's connection
     * address. Set it when SSH reaches the host on another network than the cluster's.
     */
    address: HostAddress.optional(),
    /**
     * PostgreSQL major version; paths below derive from it. Unset: the host release's (Debian
     * 12: 15, Debian 13: 17), like postgres.version; set both or neither.
     */
    postgresVersion: z.number().int().min(12).max(99).optional(),
    /** Unset: /var/lib/postgresql/<version>/main (Debian layout). */
    dataDir: z.string().startsWith('/').optional(),
    /** Unset: /usr/lib/postgresql/<version>/bin. */
    binDir: z.string().startsWith('/').optional(),
    /** Our config file (0600 postgres); patronictl -c takes the same path. */
    configFile: z.string().startsWith('/').default('/etc/patroni/patroni.yml'),
    /**
     * Our systemd unit. Not Debian's patroni.service: a package upgrade restarts that one
     * (its postinst does), and a Patroni restart on the leader is an outage; ours restarts
     * only when we say so.
     */
    serviceName: name.default('rigger-patroni'),
    /** Debian 12: patroni plus the etcd client library it needs for etcd/etcd3 DCS; curl for the REST API. */
    packages: z.array(z.string().min(1)).default(['patroni', 'python3-etcd', 'curl']),
    restapi: z
      .strictObject({
        /** Listen address (all interfaces: the proxies' health checks and local curl). */
        listen: ListenAddress.default('0.0.0.0'),
        port: port.default(8008),
        /** Basic auth for the unsafe endpoints (PATCH /config, POST /restart, ...). GETs stay open for HAProxy. */
        username: name.default('patroni'),
        password: SecretSchema,
      }),
    postgresql: z
      .strictObject({
        /** Listen addresses (seed 004: all interfaces). */
        listen: ListenAddresses.default('0.0.0.0'),
        port: port.default(5432),
        /** Patroni writes the replication/rewind passwords here (postgres' home, not /tmp). */
        pgpass: z.string().startsWith('/').default('/var/lib/postgresql/.pgpass_patroni'),
        /** Local (per-member) parameters; applied by a reload. Merged over the role's. */
        parameters: z.record(ParameterName, ParameterValue).default({}),
      })
      .prefault({}),
    authentication: z.strictObject({
      superuser: User('postgres'),
      replication: User('replicator'),
      /** pg_rewind's user (seed 004: rewind_user); Patroni creates it with the grants it needs. */
      rewind: User('rewind_user'),
    }),
    /** Cluster-wide settings: bootstrap.dcs on a new cluster, PATCH /config on a live one. */
    dcs: z
      .strictObject({
        ttl: z.number().int().min(20).default(30),
        loopWait: z.number().int().min(1).default(10),
        retryTimeout: z.number().int().min(3).default(10),
        /** Bytes a replica may lag and still be promoted (seeds: 1 MB). */
        maximumLagOnFailover: z.number().int().min(0).default(1048576),
        synchronousMode: z.boolean().default(true),
        /** false: fall back to async when no sync standby is left rather than stop writes (seed 003). */
        synchronousModeStrict: z.boolean().default(false),
        usePgRewind: z.boolean().default(true),
        useSlots: z.boolean().default(true),
        /** PostgreSQL parameters kept in the DCS. Merged over the role's defaults (see README); null drops one. */
        parameters: z.record(ParameterName, ParameterValue).default({}),
      })
      .prefault({}),
    initdb: z
      .strictObject({
        encoding: z.string().default('UTF8'),
        /** Data checksums (seeds); pg_rewind works with them or with wal_log_hints. */
        dataChecksums: z.boolean().default(true),
        locale: z.string().optional(),
      })
      .prefault({}),
    hba: z
      .strictObject({
        /** More networks allowed to connect to every database with scram-sha-256 (the members, proxies and backup hosts always are). */
        clientNetworks: z.array(NetworkOrAddress).default([]),
        /** Extra raw pg_hba lines, appended last. */
        extra: z.array(z.string().regex(/^[^\n]+$/)).default([]),
      })
      .prefault({}),
    watchdog: z
      .strictObject({
        /** automatic: use /dev/watchdog when present (seed 004); required: refuse leadership without it. */
        mode: z.enum(['off', 'automatic', 'required']).default('automatic'),
        device: z.string().regex(/^\/[A-Za-z0-9_.\/-]+$/, 'an absolute device path').default('/dev/watchdog'),
        /** Seconds between the watchdog firing and the leader key expiring (seeds: 5). */
        safetyMargin: z.number().int().min(0).default(5),
      })
      .prefault({}),
    tags: z
      .strictObject({
        nofailover: z.boolean().default(false),
        noloadbalance: z.boolean().default(false),
        clonefrom: z.boolean().default(false),
        nosync: z.boolean().default(false),
      })
      .prefault({}),
    /**
     * After a DCS change that needs a PostgreSQL restart (pending_restart): `rolling` restarts
     * the members through the REST API, replicas first and the leader last, each back to
     * running before the next; `never` leaves it to a rolling-restart playbook.
     */
    restartPending: z.enum(['rolling', 'never']).default('rolling'),
    /** Deadline for the leader to bootstrap and for every member to be running. */
    startTimeoutSeconds: z.number().int().positive().default(300),
  })
  .superRefine((v, ctx) => {
    const d = v.dcs;
    // Patroni's own rule: a DCS outage shorter than retry_timeout must not cost the lock.
    if (d.loopWait + 2 * d.retryTimeout > d.ttl)
      ctx.addIssue({
        code: 'custom',
        path: ['dcs', 'ttl'],
        message: `loopWait + 2 * retryTimeout (${d.loopWait} + 2 * ${d.retryTimeout}) must not exceed ttl (${d.ttl})`,
      });
    // The watchdog fires at ttl - safetyMargin; the HA loop must fit before it (seed 004: 30 - 5 - 10 = 15 s).
    if (v.watchdog.mode !== 'off' && d.ttl - v.watchdog.safetyMargin - d.loopWait <= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['watchdog', 'safetyMargin'],
        message: `ttl - safetyMargin - loopWait (${d.ttl} - ${v.watchdog.safetyMargin} - ${d.loopWait}) must be positive, or the watchdog resets a healthy leader`,
      });
    const users = [v.authentication.superuser.username, v.authentication.replication.username];
    if (new Set(users).size !== users.length)
      ctx.addIssue({ code: 'custom', path: ['authentication', 'replication', 'username'], message: 'the replication user must differ from the superuser' });
    if (v.serviceName === 'patroni')
      ctx.addIssue({ code: 'custom', path: ['serviceName'], message: "Debian's patroni.service is masked by the role: pick another unit name" });
    if (v.restapi.port === v.postgresql.port)
      ctx.addIssue({ code: 'custom', path: ['restapi', 'port'], message: 'the REST API port must differ from PostgreSQL\'s' });
  });

export type PatroniVars = z.output<typeof PatroniVarsSchema>;
