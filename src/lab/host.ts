/**
 * One lab host: an overlay over the base image, its identity written before first boot,
 * and a systemd-nspawn container booted on the instance's bridge. Also the fault verbs
 * (clean poweroff, power cut, network partition) and `exec` through nsenter, which is for
 * the lab itself only: the product reaches hosts over SSH.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostCgroups, removeCgroup } from './cgroup.ts';
import type { Instance } from './instance.ts';
import { isMounted, mountPoints } from './prereqs.ts';
import { allPids, childrenOf, cmdline, isAlive, namespaceMembers, procRef, pssKib, type ProcRef } from './proc.ts';
import { LabError, check, run, sleep, waitFor, type RunResult } from './run.ts';
import { makeHostKey } from './ssh.ts';
import { hostAddress, type HostSpec } from './topology.ts';

export interface HostPaths {
  dir: string;
  upper: string;
  work: string;
  root: string;
  /** Which base image this host's overlay sits on (recorded at creation). */
  lowerFile: string;
  uuidFile: string;
  preparedFile: string;
  consoleLog: string;
}

export function hostPaths(inst: Instance, name: string): HostPaths {
  const dir = join(inst.hostsDir, name);
  return {
    dir,
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    root: join(dir, 'root'),
    lowerFile: join(dir, 'lower'),
    uuidFile: join(dir, 'machine-uuid'),
    preparedFile: join(dir, 'prepared'),
    consoleLog: join(dir, 'console.log'),
  };
}

export function machineName(inst: Instance, host: string): string {
  return `${inst.name}-${host}`;
}

export interface Identity {
  /** Every host of the instance (for /etc/hosts). */
  hosts: readonly HostSpec[];
  mirrorHost: string;
  mirrorIp: string;
  clientPublicKey: string;
}

/** Mounts the host's overlay and, the first time, writes its identity. Idempotent. */
export async function prepareHost(inst: Instance, spec: HostSpec, image: string, id: Identity): Promise<void> {
  const p = hostPaths(inst, spec.name);
  for (const d of [p.upper, p.work, p.root]) mkdirSync(d, { recursive: true });
  if (!existsSync(p.lowerFile)) writeFileSync(p.lowerFile, `${image}\n`);
  await mountOverlay(p);
  if (existsSync(p.preparedFile)) return;
  const r = p.root;
  writeFileSync(join(r, 'etc/hostname'), `${spec.name}\n`);
  writeFileSync(join(r, 'etc/hosts'), hostsFile(inst, id));
  mkdirSync(join(r, 'etc/systemd/network'), { recursive: true });
  writeFileSync(join(r, 'etc/systemd/network/10-host0.network'), networkFile(inst, spec));
  // Empty: systemd takes the id nspawn passes (--uuid, fixed per host) and commits it.
  writeFileSync(join(r, 'etc/machine-id'), '');
  await makeHostKey(r, spec.name);
  mkdirSync(join(r, 'root/.ssh'), { recursive: true });
  chmodSync(join(r, 'root/.ssh'), 0o700);
  writeFileSync(join(r, 'root/.ssh/authorized_keys'), `${id.clientPublicKey}\n`, { mode: 0o600 });
  writeFileSync(p.uuidFile, `${randomBytes(16).toString('hex')}\n`);
  writeFileSync(p.preparedFile, `${new Date().toISOString()}\n`);
}

function hostsFile(inst: Instance, id: Identity): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', '', `# lab ${inst.name}`];
  for (const h of id.hosts) lines.push(`${hostAddress(inst, h)}\t${h.name}`);
  lines.push('', '# the Debian mirror as the control machine resolves it (no DNS inside the lab)', `${id.mirrorIp}\t${id.mirrorHost}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Static address. The name sorts before the stock 80-container-host0.network, which would
 * otherwise win (link-local only). Carrier loss keeps the address, so a partition looks
 * like a cut cable rather than a reconfigured host.
 */
function networkFile(inst: Instance, spec: HostSpec): string {
  return [
    '[Match]',
    'Name=host0',
    '',
    '[Network]',
    `Address=${hostAddress(inst, spec)}/${inst.prefix}`,
    `Gateway=${inst.gateway}`,
    'LinkLocalAddressing=no',
    'IPv6AcceptRA=no',
    'ConfigureWithoutCarrier=yes',
    'IgnoreCarrierLoss=yes',
    '',
  ].join('\n');
}

async function mountOverlay(p: HostPaths): Promise<void> {
  if (isMounted(p.root)) return;
  const lower = readFileSync(p.lowerFile, 'utf8').trim();
  if (!existsSync(lower)) {
    throw new LabError(`the base image this host was made from is gone: ${lower}`, 'npm run lab -- down, then up (the hosts are re-created on the current image)');
  }
  await check(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${p.upper},workdir=${p.work}`, p.root]);
}

/** The root directory an nspawn command line boots (also through our cgroup wrapper), if any. */
function nspawnRoot(argv: string[]): string | undefined {
  const n = argv.findIndex((a) => a === 'systemd-nspawn' || a.endsWith('/systemd-nspawn'));
  if (n < 0) return undefined;
  const d = argv.indexOf('-D', n);
  return d > 0 ? argv[d + 1] : undefined;
}

function nspawnsWhere(match: (root: string) => boolean): ProcRef[] {
  const found: ProcRef[] = [];
  for (const pid of allPids()) {
    const root = nspawnRoot(cmdline(pid));
    if (root === undefined || !match(root)) continue;
    const ref = procRef(pid);
    if (ref) found.push(ref);
  }
  return found;
}

/** The nspawn process running this host (found by its root directory), if any. */
export function findNspawn(inst: Instance, name: string): ProcRef | null {
  const root = hostPaths(inst, name).root;
  return nspawnsWhere((r) => r === root)[0] ?? null;
}

/** Every nspawn process of the instance, by host directory (also ones of a half-failed up). */
export function instanceNspawns(inst: Instance): ProcRef[] {
  return nspawnsWhere((r) => r.startsWith(`${inst.hostsDir}/`));
}

/** The container's PID 1 (as seen from here): the nspawn process's child. */
export function leaderOf(nspawn: ProcRef): number | null {
  const kids = childrenOf(nspawn.pid);
  return kids[0] ?? null;
}

export function bootHost(inst: Instance, name: string): ProcRef {
  const running = findNspawn(inst, name);
  if (running) return running;
  const p = hostPaths(inst, name);
  if (!isMounted(p.root)) throw new LabError(`${name}: overlay not mounted at ${p.root}`);
  // nspawn keeps runtime files here; without a system manager nobody else creates it.
  mkdirSync('/run/systemd/nspawn', { recursive: true });
  const uuid = readFileSync(p.uuidFile, 'utf8').trim();
  const args = [
    '-q', '-b',
    '-D', p.root,
    // No system bus on the control machine: no registration, no scope of our own.
    '--register=no', '--keep-unit',
    '-M', machineName(inst, name),
    `--hostname=${name}`,
    `--uuid=${uuid}`,
    `--network-bridge=${inst.bridge}`,
    '--console=passive',
    '--resolv-conf=off', '--timezone=off', '--link-journal=no',
  ];
  // Stale subtrees of a killed run go first; then nspawn starts inside the host's own cgroups.
  const cgroups = hostCgroups(machineName(inst, name));
  if (cgroups.length === 0) throw new LabError('no cgroup hierarchy for systemd found in /proc/self/mountinfo');
  for (const cg of cgroups) {
    removeCgroup(cg);
    mkdirSync(cg, { recursive: true });
  }
  const enter = 'while [ "$1" != -- ]; do echo $$ >"$1/cgroup.procs" || { echo "lab: cannot enter cgroup $1" >&2; exit 97; }; shift; done; shift; exec "$@"';
  const log = openSync(p.consoleLog, 'a');
  const child = spawn('/bin/sh', ['-c', enter, 'sh', ...cgroups, '--', 'systemd-nspawn', ...args], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.on('error', () => {}); // reported below as "did not start"
  child.unref();
  const ref = child.pid !== undefined ? procRef(child.pid) : null;
  if (!ref) throw new LabError(`${name}: systemd-nspawn did not start (see ${p.consoleLog})`);
  return ref;
}

function consoleTail(inst: Instance, name: string): string {
  try {
    return readFileSync(hostPaths(inst, name).consoleLog, 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

export type BootState = { state: 'running' } | { state: 'degraded'; failedUnits: string[] };

/** Waits until systemd inside says running or degraded. */
export async function waitBooted(inst: Instance, name: string, nspawn: ProcRef, timeoutMs = 120_000): Promise<BootState> {
  return waitFor(`${name} to boot`, timeoutMs, async () => {
    if (!isAlive(nspawn)) {
      throw new LabError(`${name}: the container exited while booting:\n${consoleTail(inst, name)}`, `see ${hostPaths(inst, name).consoleLog}`);
    }
    const leader = leaderOf(nspawn);
    if (!leader) return undefined;
    const r = await nsExec(leader, 'systemctl is-system-running', { timeoutMs: 10_000 });
    const state = r.stdout.trim();
    if (state === 'running') return { state: 'running' } as const;
    if (state === 'degraded') {
      const failed = await nsExec(leader, 'systemctl list-units --failed --plain --no-legend --no-pager');
      return { state: 'degraded', failedUnits: failed.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]!) } as const;
    }
    return undefined;
  }, 200);
}

/** Runs a POSIX sh script inside the container's namespaces (root, clean environment). */
export async function nsExec(leader: number, script: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(
    ['nsenter', '-t', String(leader), '-a', '-r', '-w', 'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', '/bin/sh', '-c', script],
    opts,
  );
}

export async function waitGone(ref: ProcRef, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(ref)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Clean poweroff: systemd inside stops its units and exits, then nspawn exits. A container that
 * does not finish in time is killed. */
export async function powerOff(ref: ProcRef, timeoutMs = 90_000): Promise<'stopped' | 'killed'> {
  const leader = leaderOf(ref);
  // SIGRTMIN+4 asks systemd for poweroff (what `machinectl poweroff` sends).
  if (leader) await run(['kill', '-s', 'RTMIN+4', String(leader)]);
  if (await waitGone(ref, timeoutMs)) return 'stopped';
  await hardKill(ref);
  return 'killed';
}

/** Power cut: SIGKILL to the container's PID 1 (takes every process inside with it) and to nspawn. */
export async function hardKill(ref: ProcRef): Promise<void> {
  for (const pid of [leaderOf(ref), ref.pid]) {
    if (pid === null) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (!(await waitGone(ref, 15_000))) throw new LabError(`nspawn (pid ${ref.pid}) survived SIGKILL`);
}

/** The control-machine side of the host's veth pair (the bridge port), found from inside. */
export async function bridgePort(inst: Instance, name: string): Promise<string> {
  const ref = findNspawn(inst, name);
  const leader = ref && leaderOf(ref);
  if (!leader) throw new LabError(`${name} is not running`, `npm run lab -- start ${name}`);
  const inside = await check(['nsenter', '-t', String(leader), '-n', 'ip', '-j', 'link', 'show', 'dev', 'host0']);
  const peerIndex = (JSON.parse(inside) as { link_index?: number }[])[0]?.link_index;
  const links = JSON.parse(await check(['ip', '-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
  const port = links.find((l) => l.ifindex === peerIndex)?.ifname;
  if (!port) throw new LabError(`${name}: cannot find the bridge side of host0 (peer index ${String(peerIndex)})`);
  return port;
}

export async function setPartitioned(inst: Instance, name: string, partitioned: boolean): Promise<string> {
  const port = await bridgePort(inst, name);
  await check(['ip', 'link', 'set', 'dev', port, partitioned ? 'down' : 'up']);
  return port;
}

export async function isPartitioned(inst: Instance, name: string): Promise<boolean> {
  const port = await bridgePort(inst, name);
  const [link] = JSON.parse(await check(['ip', '-j', 'link', 'show', 'dev', port])) as { flags: string[] }[];
  return !(link?.flags ?? []).includes('UP');
}

/** Memory of the host's processes (PSS, KiB): shared pages are split among their users. */
export function hostMemoryKib(inst: Instance, name: string): number | null {
  const ref = findNspawn(inst, name);
  const leader = ref && leaderOf(ref);
  return leader ? pssKib(namespaceMembers(leader)) : null;
}

/**
 * nspawn's lock file for a host root (named after the mounted root's device and inode). A
 * clean exit removes it; a killed nspawn leaves it behind.
 */
export function removeNspawnLock(inst: Instance, name: string): void {
  const root = hostPaths(inst, name).root;
  if (!isMounted(root)) return;
  const st = statSync(root);
  rmSync(`/run/systemd/nspawn/locks/inode-${st.dev}:${st.ino}`, { force: true });
}

/** Unmounts everything mounted under the instance's hosts dir, deepest first. */
export async function unmountAll(inst: Instance): Promise<void> {
  const prefix = `${inst.hostsDir}/`;
  const points = mountPoints()
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of points) {
    if ((await run(['umount', m])).code !== 0) {
      await sleep(500);
      if ((await run(['umount', m])).code !== 0) await check(['umount', '-l', m]);
    }
  }
}

/** Removes a host that is not running: its overlay and all its files. */
export async function destroyHost(inst: Instance, name: string): Promise<void> {
  const p = hostPaths(inst, name);
  if (findNspawn(inst, name)) throw new LabError(`${name} is still running`);
  removeNspawnLock(inst, name);
  if (isMounted(p.root)) await check(['umount', p.root]);
  rmSync(p.dir, { recursive: true, force: true });
  rmSync(join('/run/systemd/nspawn/propagate', machineName(inst, name)), { recursive: true, force: true });
  for (const cg of hostCgroups(machineName(inst, name))) removeCgroup(cg);
}
