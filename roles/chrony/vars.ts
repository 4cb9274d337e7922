/**
 * Vars of the chrony role (inventory: `chrony:` under host/group vars). Defaults follow
 * Debian 12's stock /etc/chrony/chrony.conf and the seeds ("install chrony on every node;
 * offset < 1 s before etcd").
 */
import { z } from 'zod';
import { HostAddress } from '../../src/core/net.ts';

/** One word of a config line: no blanks or comment signs (they would split or end the line). */
const Word = z.string().regex(/^[^\s#"]+$/, 'expected one word (no spaces, quotes or #)');

/** One time source line: `server`/`pool` HOST [iburst] [prefer] [minpoll N] [maxpoll N]. */
const SourceSchema = z.strictObject({
  /** Host name or address of the NTP server / pool. */
  host: HostAddress,
  /** Fast first sync (4 packets at 2 s): the Debian default for its pool line. */
  iburst: z.boolean().default(true),
  /** Prefer this source over the others of equal quality. */
  prefer: z.boolean().default(false),
  minpoll: z.number().int().min(-6).max(24).optional(),
  maxpoll: z.number().int().min(-6).max(24).optional(),
});

const PoolSchema = SourceSchema.extend({
  /** How many servers of the pool chrony may use (chrony's default: 4). */
  maxsources: z.number().int().min(1).max(16).optional(),
});

export const ChronyVarsSchema = z.strictObject({
  /** Individual NTP servers (e.g. your datacenter's). Default none. */
  servers: z.array(SourceSchema).default([]),
  /** NTP pools. Default: Debian's `pool 2.debian.pool.ntp.org iburst`. */
  pools: z.array(PoolSchema).default([{ host: '2.debian.pool.ntp.org', iburst: true, prefer: false }]),
  /** Step the clock when off by more than `threshold` s, during the first `limit` updates (Debian: 1 3). */
  makestep: z
    .strictObject({ threshold: z.number().positive().default(1), limit: z.number().int().default(3) })
    .prefault({}),
  /** Keep the RTC in sync with the system clock (Debian default: on). */
  rtcsync: z.boolean().default(true),
  /** Client subnets allowed to query this host as a server (`allow` lines). Default none. */
  allow: z.array(Word).default([]),
  /** Ignore measurements with an estimated skew above this many ppm (Debian: 100.0). */
  maxupdateskew: z.number().positive().default(100),
  /** Time zone used to learn leap seconds (Debian: right/UTC). Empty: none. */
  leapsectz: z.string().default('right/UTC'),
  /** Where the package reads its config (Debian: /etc/chrony/chrony.conf). */
  configPath: z.string().default('/etc/chrony/chrony.conf'),
  /** Drop-in directories the stock config includes; kept so local snippets still work. */
  confdir: z.string().default('/etc/chrony/conf.d'),
  sourcedirs: z.array(z.string()).default(['/run/chrony-dhcp', '/etc/chrony/sources.d']),
  keyfile: z.string().default('/etc/chrony/chrony.keys'),
  driftfile: z.string().default('/var/lib/chrony/chrony.drift'),
  ntsdumpdir: z.string().default('/var/lib/chrony'),
  logdir: z.string().default('/var/log/chrony'),
  /** Package and systemd unit (Debian: chrony / chrony.service). */
  package: z.string().default('chrony'),
  service: z.string().default('chrony'),
  /**
   * After (re)starting, wait until chrony reports the clock synchronised, at most
   * `timeoutS` seconds, with a correction under `maxCorrectionS` (the seeds: offset < 1 s;
   * etcd leases rely on it). Off: do not wait. Never applies in a container.
   */
  waitSync: z
    .strictObject({
      enabled: z.boolean().default(true),
      timeoutS: z.number().int().positive().default(60),
      maxCorrectionS: z.number().positive().default(1),
    })
    .prefault({}),
});

export type ChronyVars = z.output<typeof ChronyVarsSchema>;
export type ChronySource = z.output<typeof SourceSchema>;
export type ChronyPool = z.output<typeof PoolSchema>;
