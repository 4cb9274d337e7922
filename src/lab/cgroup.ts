/**
 * A cgroup of its own for each lab host. Without a system manager on the control machine,
 * nspawn --keep-unit puts every container under the same /payload cgroup, so the hosts'
 * systemd instances share their unit cgroups: stopping ssh.service (or patroni) on one host
 * would kill it on all of them. We start each nspawn inside <hierarchy>/rigger-lab/<machine>
 * in the hierarchies systemd manages (the named v1 "systemd" one and/or cgroup2). Resource
 * controllers (memory, cpu) are left alone: they belong to whoever runs this machine.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BASE = 'rigger-lab';

/** Mount points of cgroup2 and of the v1 hierarchy named "systemd". */
export function systemdHierarchies(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    const [fstype, , superOpts] = right.split(' ');
    if (fstype === 'cgroup2' || (fstype === 'cgroup' && (superOpts ?? '').split(',').includes('name=systemd'))) out.push(mountPoint);
  }
  return [...new Set(out)];
}

export function hostCgroups(machine: string): string[] {
  return systemdHierarchies().map((h) => join(h, BASE, machine));
}

/** Removes a cgroup subtree (only empty cgroups can go: rmdir, deepest first). */
export function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) removeCgroup(p);
  }
  try {
    rmdirSync(dir);
  } catch {
    // still has processes (a host that is running): leave it
  }
}

/** Removes every lab cgroup whose machine name starts with `prefix`, then the base if empty. */
export function removeCgroups(prefix: string): void {
  for (const h of systemdHierarchies()) {
    const base = join(h, BASE);
    if (!existsSync(base)) continue;
    for (const m of readdirSync(base)) if (m.startsWith(prefix) && statSync(join(base, m)).isDirectory()) removeCgroup(join(base, m));
    try {
      rmdirSync(base);
    } catch {
      // other instances still there
    }
  }
}
