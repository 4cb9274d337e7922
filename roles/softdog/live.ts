/**
 * What the kernel can do about a watchdog on this host, probed in one read-only snippet,
 * and the decision that follows from it (load the module, fix the owner, warn, or fail).
 */
import { shQuote } from '../../src/transport/types.ts';
import type { SoftdogVars, WatchdogMode } from './vars.ts';

export interface WatchdogProbe {
  /** `command -v modprobe` found something. */
  modprobe: boolean;
  /** /sys/module/NAME exists (loaded or built in). */
  loaded: boolean;
  /** The running kernel ships the module (modinfo, or a .ko under /lib/modules/$(uname -r)). */
  available: boolean;
  /** The device node exists as a character device. */
  device: boolean;
  /** "user:group" and octal mode of the device, when it exists. */
  owner: string;
  mode: string;
  /** The user meant to own the device exists. */
  ownerExists: boolean;
  kernel: string;
}

export function probeScript(v: SoftdogVars): string {
  const dev = shQuote(v.device);
  const mod = shQuote(v.module);
  return [
    `if command -v modprobe >/dev/null 2>&1; then echo modprobe=yes; else echo modprobe=no; fi`,
    `if [ -d /sys/module/${v.module} ]; then echo loaded=yes; else echo loaded=no; fi`,
    `k=$(uname -r); echo "kernel=$k"`,
    `if modinfo ${mod} >/dev/null 2>&1 || find "/lib/modules/$k" -name ${shQuote(`${v.module}.ko*`)} 2>/dev/null | grep -q .; then echo available=yes; else echo available=no; fi`,
    `if [ -c ${dev} ]; then echo device=yes; echo "owner=$(stat -c %U:%G ${dev})"; echo "mode=$(stat -c %a ${dev})"; else echo device=no; fi`,
    `if getent passwd ${shQuote(v.owner)} >/dev/null; then echo ownerExists=yes; else echo ownerExists=no; fi`,
  ].join('\n');
}

export function parseProbe(stdout: string): WatchdogProbe {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const yes = (k: string) => kv.get(k) === 'yes';
  return {
    modprobe: yes('modprobe'),
    loaded: yes('loaded'),
    available: yes('available'),
    device: yes('device'),
    owner: kv.get('owner') ?? '',
    mode: kv.get('mode') ?? '',
    ownerExists: yes('ownerExists'),
    kernel: kv.get('kernel') ?? '',
  };
}

/** facts.virtualization: container or not, and what kind. */
export interface HostKind {
  container: boolean;
  type: string;
}

export type WatchdogVerdict =
  | { kind: 'ready' }
  | { kind: 'load' }
  | { kind: 'unavailable'; reason: string; fatal: boolean };

/**
 * Can this host give Patroni a watchdog? `mode` is the Patroni watchdog mode in force:
 * only `required` turns "the kernel cannot" into a failure.
 */
export function watchdogVerdict(p: WatchdogProbe, host: HostKind, v: SoftdogVars, mode: WatchdogMode): WatchdogVerdict {
  if (p.device) return { kind: 'ready' };
  if (!p.loaded && p.modprobe && p.available && !host.container) return { kind: 'load' };
  const why: string[] = [];
  if (host.container) why.push(`this host is a container (${host.type}): it cannot load kernel modules`);
  if (!p.modprobe) why.push('modprobe is not installed');
  else if (!p.available && !p.loaded) why.push(`kernel ${p.kernel || '?'} has no ${v.module} module`);
  if (p.loaded) why.push(`${v.module} is loaded but ${v.device} does not exist`);
  const reason = `no watchdog device ${v.device}: ${why.join('; ') || 'unknown cause'}`;
  return mode === 'required'
    ? { kind: 'unavailable', fatal: true, reason: `${reason}; patroni.watchdog.mode is "required", so Patroni would refuse to start` }
    : { kind: 'unavailable', fatal: false, reason: `${reason}; Patroni (watchdog mode "${mode}") runs without fencing` };
}

/** The Patroni watchdog mode this host runs with: the role's override, else host vars, else automatic. */
export function effectiveWatchdogMode(v: SoftdogVars, hostVars: Record<string, unknown>): WatchdogMode {
  if (v.watchdogMode) return v.watchdogMode;
  const patroni = hostVars['patroni'];
  const wd = isRecord(patroni) ? patroni['watchdog'] : undefined;
  const raw = isRecord(wd) ? wd['mode'] : undefined;
  // YAML 1.1 reads a bare `off` as false.
  if (raw === false) return 'off';
  if (raw === 'off' || raw === 'automatic' || raw === 'required') return raw;
  return 'automatic';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Wanted "user:group" and mode without the leading zero, as `stat` prints them. */
export function ownershipDiffers(p: WatchdogProbe, v: SoftdogVars): boolean {
  const wantMode = String(parseInt(v.mode, 8).toString(8));
  return p.device && (p.owner !== `${v.owner}:${v.group}` || p.mode !== wantMode);
}
