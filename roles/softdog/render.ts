/**
 * The three small files that make the watchdog survive a reboot: the module list for
 * systemd-modules-load, softdog's options, and the udev rule that hands the device to the
 * user Patroni runs as (the device node is recreated root-owned at every boot).
 */
import type { SoftdogVars } from './vars.ts';

const MANAGED = '# Managed by rigger (role softdog).';

export function renderModulesLoad(v: SoftdogVars): string {
  return `${MANAGED}\n${v.module}\n`;
}

/** null when no option is set: the file is then removed so the kernel defaults apply. */
export function renderModprobeOptions(v: SoftdogVars): string | null {
  const opts: string[] = [];
  if (v.softMargin !== undefined) opts.push(`soft_margin=${v.softMargin}`);
  if (v.nowayout !== undefined) opts.push(`nowayout=${v.nowayout ? 1 : 0}`);
  return opts.length ? `${MANAGED}\noptions ${v.module} ${opts.join(' ')}\n` : null;
}

/** Matches /dev/watchdog (misc) and /dev/watchdogN (watchdog class) alike. */
export function renderUdevRule(v: SoftdogVars): string {
  const name = v.device.replace(/^\/dev\//, '');
  return `${MANAGED}\nKERNEL=="${name}*", OWNER="${v.owner}", GROUP="${v.group}", MODE="${v.mode.replace(/^0?/, '0')}"\n`;
}
