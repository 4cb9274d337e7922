/**
 * Vars of the keepalived role (inventory: `keepalived:`, hosts of group `balancers`). A VRRP
 * instance floats the virtual IP over the balancers; a tracked check of HAProxy moves it off
 * a node whose HAProxy is not running (seed 004). Priorities come from inventory order.
 */
import { z } from 'zod';
import { SecretSchema } from '../../src/core/secret.ts';
import { Ipv4Address } from '../../src/core/net.ts';

const Word = z.string().regex(/^[A-Za-z0-9_.:@-]+$/, 'expected one word (letters, digits, _ . : @ -)');

export const KeepalivedVarsSchema = z.strictObject({
  package: z.string().default('keepalived'),
  service: z.string().default('keepalived'),
  configPath: z.string().default('/etc/keepalived/keepalived.conf'),
  /** The floating address clients use (no default: it belongs to your network). */
  virtualIp: Ipv4Address,
  /** Prefix length of the virtual IP on the interface. */
  prefix: z.number().int().min(1).max(32).default(24),
  /** Interface carrying VRRP and the VIP. Unset: the host's default-route interface (facts). */
  interface: Word.optional(),
  /** VRRP router id, 1..255, unique per L2 segment (seed 004: 51). */
  virtualRouterId: z.number().int().min(1).max(255).default(51),
  instanceName: Word.default('VI_PG'),
  /** Advertisement interval in seconds (seeds: 1). */
  advertInt: z.number().int().min(1).max(255).default(1),
  /** Inventory group whose order gives the priorities (first host highest). */
  group: z.string().default('balancers'),
  /** Priority of the first host of the group; each next host gets `priorityStep` less. */
  basePriority: z.number().int().min(2).max(254).default(150),
  priorityStep: z.number().int().min(1).max(100).default(10),
  /** Explicit priority for this host (host var), instead of the one from inventory order. */
  priority: z.number().int().min(1).max(254).optional(),
  /** Take the VIP back when a higher-priority node returns (keepalived's default). */
  preempt: z.boolean().default(true),
  /** Use unicast to the other balancers' addresses instead of multicast (clouds without multicast). */
  unicast: z.boolean().default(false),
  /**
   * VRRP PASS authentication (seeds: auth_pass). Only the first 8 characters count for
   * keepalived, so longer secrets are refused. Unset: no authentication block.
   */
  authPassword: SecretSchema.optional(),
  /**
   * How HAProxy is tracked: a command that exits 0 while HAProxy runs, as `scriptUser`.
   * pgrep (procps, installed by the role). Not pidof: on Debian 12 it is a symlink to
   * killall5, keepalived runs the resolved path and killall5 refuses pidof's arguments.
   * Not killall -0: an unprivileged user may not signal root's HAProxy.
   */
  track: z
    .strictObject({
      script: z.string().default('/usr/bin/pgrep -x haproxy'),
      interval: z.number().int().min(1).default(2),
      fall: z.number().int().min(1).default(2),
      rise: z.number().int().min(1).default(2),
      /**
       * Priority lost while the check fails. Unset: just more than the spread of the
       * group's priorities, so any healthy balancer outranks a failed one.
       */
      weight: z.number().int().min(1).max(253).optional(),
    })
    .prefault({}),
  /**
   * Unprivileged user that runs the check (keepalived's `script_user`, with
   * `enable_script_security`). keepalived's own default name; the role creates it.
   */
  scriptUser: Word.default('keepalived_script'),
});

export type KeepalivedVars = z.output<typeof KeepalivedVarsSchema>;
