/**
 * Vars of the softdog role (inventory: `softdog:`). The seeds load softdog at boot through
 * modules-load.d and give /dev/watchdog to postgres so Patroni can arm it; the kernel's own
 * default timeout (60 s) "works fine" with ttl 30 + safety_margin 5, so no option is forced.
 */
import { z } from 'zod';

const UserName = z.string().regex(/^[a-z_][a-z0-9_-]*[$]?$/, 'expected a user or group name');

export const WatchdogModeSchema = z.enum(['off', 'automatic', 'required']);
export type WatchdogMode = z.output<typeof WatchdogModeSchema>;

export const SoftdogVarsSchema = z.strictObject({
  /** Kernel module that provides the watchdog device. */
  module: z.string().regex(/^[A-Za-z0-9_-]+$/).default('softdog'),
  /** Device Patroni opens (Patroni's default watchdog.device). */
  device: z.string().default('/dev/watchdog'),
  /** Owner of the device: the user Patroni runs as (Debian: postgres). */
  owner: UserName.default('postgres'),
  group: UserName.default('postgres'),
  mode: z.string().regex(/^0?[0-7]{3}$/).default('0600'),
  /** softdog's soft_margin (s). Unset: the kernel default (60 s), which fits ttl 30. */
  softMargin: z.number().int().min(1).max(65535).optional(),
  /** softdog's nowayout: once opened the watchdog can never be stopped. Unset: kernel default. */
  nowayout: z.boolean().optional(),
  /**
   * What happens where the kernel cannot provide a watchdog (container, no modprobe, no
   * module). Unset: taken from the host's `patroni.watchdog.mode` (Patroni's default
   * `automatic`): `required` fails the host (Patroni would refuse to start), anything else warns.
   */
  watchdogMode: WatchdogModeSchema.optional(),
  modulesLoadPath: z.string().default('/etc/modules-load.d/softdog.conf'),
  modprobeOptionsPath: z.string().default('/etc/modprobe.d/softdog.conf'),
  udevRulePath: z.string().default('/etc/udev/rules.d/60-rigger-watchdog.rules'),
});

export type SoftdogVars = z.output<typeof SoftdogVarsSchema>;
