/**
 * Vars of the haproxy role (inventory: `haproxy:`, hosts of group `balancers`). Defaults are
 * the seeds' tested config (seed 004): writes on 5000 to the Patroni leader, reads on 5001
 * round-robin over the replicas, health checks against Patroni's REST API on 8008, stats on 7000.
 */
import { z } from 'zod';
import { ListenAddress } from '../../src/core/net.ts';

/** HAProxy time value: a number with an optional unit (us, ms, s, m, h, d). */
const Duration = z.string().regex(/^\d+(us|ms|s|m|h|d)?$/, 'expected a duration like 4s, 5000ms or 30m');
/** Address to bind: * for all, an IP address or a host name. */
const Bind = ListenAddress;

export const HaproxyVarsSchema = z.strictObject({
  package: z.string().default('haproxy'),
  service: z.string().default('haproxy'),
  /** Debian's haproxy.service reads this file (CONFIG=/etc/haproxy/haproxy.cfg). */
  configPath: z.string().default('/etc/haproxy/haproxy.cfg'),
  /** Inventory group whose hosts are the PostgreSQL backends (in inventory order). */
  backendGroup: z.string().default('postgres'),
  /** Address clients connect to (* = every address, which includes the keepalived VIP). */
  bind: Bind.default('*'),
  /** Front ports: read/write to the leader, read-only to the replicas (seeds: 5000 / 5001). */
  primaryPort: z.number().int().min(1).max(65535).default(5000),
  replicaPort: z.number().int().min(1).max(65535).default(5001),
  /** Names of the two `listen` sections (also what the runtime API calls the backends). */
  primaryName: z.string().regex(/^[A-Za-z0-9_.:-]+$/).default('postgres_primary'),
  replicaName: z.string().regex(/^[A-Za-z0-9_.:-]+$/).default('postgres_replicas'),
  /** PostgreSQL port on the backends and Patroni's REST API port the checks go to. */
  postgresPort: z.number().int().min(1).max(65535).default(5432),
  patroniApiPort: z.number().int().min(1).max(65535).default(8008),
  /** Patroni answers 200 on /primary only on the leader and on /replica only on running standbys. */
  primaryCheckUri: z.string().default('/primary'),
  replicaCheckUri: z.string().default('/replica'),
  /** Global connection limit (seed 004: 2000) and per server (seed 004: 200). */
  maxconn: z.number().int().positive().default(2000),
  serverMaxconn: z.number().int().positive().default(200),
  retries: z.number().int().min(0).default(2),
  timeouts: z
    .strictObject({
      connect: Duration.default('4s'),
      client: Duration.default('30m'),
      server: Duration.default('30m'),
      check: Duration.default('5s'),
    })
    .prefault({}),
  /** `default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions` (seeds). */
  check: z
    .strictObject({
      inter: Duration.default('3s'),
      fall: z.number().int().positive().default(3),
      rise: z.number().int().positive().default(2),
      /** Drop client sessions of a server marked down, so nobody keeps writing to a demoted primary. */
      shutdownSessionsOnDown: z.boolean().default(true),
    })
    .prefault({}),
  stats: z
    .strictObject({
      enabled: z.boolean().default(true),
      bind: Bind.default('*'),
      port: z.number().int().min(1).max(65535).default(7000),
      uri: z.string().default('/'),
      refresh: Duration.default('10s'),
    })
    .prefault({}),
  /** Runtime API socket (Debian's default): the day-2 helpers drain/maint servers through it. */
  adminSocket: z.string().default('/run/haproxy/admin.sock'),
  /** Install socat so the runtime API can be used from a shell (the helpers fall back to python3). */
  installSocat: z.boolean().default(true),
  /** syslog target of the global section (Debian's default). Empty: no logging. */
  log: z.string().default('/dev/log local0'),
});

export type HaproxyVars = z.output<typeof HaproxyVarsSchema>;
