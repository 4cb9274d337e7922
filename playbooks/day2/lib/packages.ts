/**
 * What a package upgrade would do on one host, from apt itself (simulated, so nothing
 * changes): the packages it would upgrade, the bytes it would fetch and add, and whether the
 * disks have room for that.
 */
import { TaskError } from '../../../src/engine/types.ts';
import { aptLockPrelude } from '../../../src/ops/apt-lock.ts';
import { shQuote } from '../../../src/transport/types.ts';
import { stateKeys, type Remote, type RunState } from '../../../src/toolkit/index.ts';

/** (host): apt-get update ran on this host in this run. */
const listsRefreshedKey = stateKeys<boolean>('rollout:apt-lists-refreshed');
import type { RolloutVars } from './vars.ts';

export interface Upgrade {
  name: string;
  from: string;
  to: string;
}

export interface UpgradePlan {
  upgrades: Upgrade[];
  /** Archives to download plus the additional installed size (bytes; never negative). */
  needBytes: number;
}

/** `Inst postgresql-15 [15.8-0+deb12u1] (15.9-0+deb12u1 Debian:12.8/stable [amd64])` lines of `apt-get -s`. */
export function parseSimulation(out: string): Upgrade[] {
  const ups: Upgrade[] = [];
  for (const m of out.matchAll(/^Inst (\S+) \[([^\]]+)\] \((\S+)/gm)) ups.push({ name: m[1]!, from: m[2]!, to: m[3]! });
  return ups;
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** apt's "Need to get 17.2 MB of archives." and "After this operation, 1,024 kB of additional disk space will be used." */
export function parseSizes(out: string): number {
  const num = (s: string) => Number(s.replace(/,/g, ''));
  let bytes = 0;
  const get = /Need to get ([\d.,]+) (\w+)(?:\/[\d.,]+ \w+)? of archives/.exec(out);
  if (get) bytes += num(get[1]!) * (UNITS[get[2]!] ?? 1);
  const after = /After this operation, ([\d.,]+) (\w+) of additional disk space will be used/.exec(out);
  if (after) bytes += num(after[1]!) * (UNITS[after[2]!] ?? 1);
  return Math.round(bytes);
}

/** What `stack` means on etcd members and on balancers (the database stack follows). */
export const ETCD_STACK = ['etcd-server', 'etcd-client'];
export const BALANCER_STACK = ['haproxy', 'keepalived'];

/** The packages `stack` means on a database member. */
export function stackPackages(postgresVersion: number): string[] {
  return [`postgresql-${postgresVersion}`, `postgresql-client-${postgresVersion}`, 'libpq5', 'postgresql-common', 'patroni', 'python3-etcd', 'python3-psycopg2'];
}

/** apt-get arguments for the upgrade: `upgrade` for all, else `install --only-upgrade` of the installed ones. */
async function aptArgs(remote: Remote, v: RolloutVars, stack: string[]): Promise<string | null> {
  if (v.packages === 'none') return null;
  if (v.packages === 'all') return 'upgrade';
  const wanted = v.packages === 'stack' ? stack : v.packages;
  // Only installed ones: --only-upgrade of an unknown name makes apt refuse the whole list.
  const r = await remote.exec(`dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' ${wanted.map(shQuote).join(' ')} 2>/dev/null; true`);
  const installed = r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, status]) => status === 'ii')
    .map(([name]) => name!);
  return installed.length ? `install --only-upgrade ${installed.map(shQuote).join(' ')}` : null;
}

const APT_ENV = 'LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive';
/** rigger_apt waits for every apt/dpkg lock (bounded, naming the holder); the env for the functions it runs. */
const LOCKED = `${aptLockPrelude()}\nexport LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive\n`;

/**
 * Simulates the upgrade. The package lists are refreshed first when asked, once per host and
 * run (`shared` remembers it: a host in two groups is asked twice).
 */
export async function planUpgrade(remote: Remote & { host: { name: string }; shared: RunState }, v: RolloutVars, stack: string[]): Promise<UpgradePlan & { args: string | null }> {
  const args = await aptArgs(remote, v, stack);
  if (args === null) return { upgrades: [], needBytes: 0, args };
  const refreshed = listsRefreshedKey(remote.host.name);
  if (v.refreshPackageLists && !remote.shared.has(refreshed)) {
    remote.shared.set(refreshed, true);
    // Room for rigger_apt's lock wait (up to 300 s) before the update itself.
    const u = await remote.exec(`${LOCKED}rigger_apt apt-get update -qq`, { timeoutMs: 600_000 });
    if (u.code !== 0) throw new TaskError(`apt-get update failed: ${(u.stderr || u.stdout).trim().split('\n').slice(-3).join(' ')}`);
  }
  const sim = await remote.exec(`${APT_ENV} apt-get -s -q ${args}`, { timeoutMs: 120_000 });
  if (sim.code !== 0) throw new TaskError(`apt-get -s ${args} failed: ${(sim.stderr || sim.stdout).trim().split('\n').slice(-3).join(' ')}`);
  const upgrades = parseSimulation(sim.stdout);
  if (upgrades.length === 0) return { upgrades, needBytes: 0, args };
  // --print-uris prints the sizes and stops before downloading. Not --assume-no: apt asks
  // nothing (so installs for real) when exactly the named packages upgrade.
  const sizes = await remote.exec(`${APT_ENV} apt-get --print-uris -q ${args} 2>&1; true`, { timeoutMs: 120_000 });
  return { upgrades, needBytes: parseSizes(sizes.stdout), args };
}

/** The smallest free space (bytes) among the filesystems an upgrade writes to, with its mount. */
export async function freeSpace(remote: Remote, paths: string[]): Promise<{ bytes: number; path: string }> {
  const r = await remote.exec(`df -P -B1 ${paths.map(shQuote).join(' ')} 2>/dev/null | tail -n +2`);
  let best = { bytes: Number.POSITIVE_INFINITY, path: paths[0] ?? '/' };
  r.stdout
    .split('\n')
    .filter(Boolean)
    .forEach((l, i) => {
      const avail = Number(l.trim().split(/\s+/)[3]);
      if (Number.isFinite(avail) && avail < best.bytes) best = { bytes: avail, path: paths[i] ?? '?' };
    });
  return best;
}

/** Refuses (a TaskError) when a filesystem the upgrade writes to lacks its size plus the margin. */
export async function requireRoom(remote: Remote, plan: UpgradePlan, paths: string[], marginMiB: number): Promise<void> {
  if (plan.upgrades.length === 0) return;
  const free = await freeSpace(remote, paths);
  if (free.bytes < plan.needBytes + marginMiB * 1048576)
    throw new TaskError(
      `refusing to start: ${free.path} has ${Math.floor(free.bytes / 1048576)} MiB free; the upgrade needs ${Math.ceil(plan.needBytes / 1048576)} MiB plus the ${marginMiB} MiB margin (rollout.minFreeDiskMiB)`,
    );
}

/** Installs the planned upgrade (non-interactive; keeps local config files). */
export async function applyUpgrade(remote: Remote, args: string): Promise<void> {
  // No deadline: dpkg killed mid-unpack leaves half-configured packages on a drained member.
  // An earlier run's interrupted dpkg is finished first.
  const finish = `if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || [ -n "$(dpkg --audit 2>/dev/null)" ]; then rigger_apt dpkg --configure -a --force-confdef --force-confold >&2 || exit 1; fi`;
  const r = await remote.exec(`${LOCKED}${finish}\nrigger_apt apt-get -y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${args}`);
  if (r.code !== 0) throw new TaskError(`apt-get ${args} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`);
}

export const describeUpgrades = (ups: Upgrade[]) => ups.map((u) => `${u.name} ${u.from} -> ${u.to}`).join(', ');
