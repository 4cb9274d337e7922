/**
 * The lab verbs: up, down, status, add, remove, start, stop, kill, partition, heal, and
 * running commands on a host (ssh, or nsenter for the lab's own checks). Used by the CLI
 * (main.ts) and by the test support (test/support/lab.ts).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroups } from './cgroup.ts';
import { ensureImage, MIRROR, pruneImages } from './image.ts';
import type { Instance } from './instance.ts';
import { writeInventory } from './inventory.ts';
import { withLock } from './lock.ts';
import { bridgeExists, ensureNetwork, removeStaleVeths, resolveMirror, teardownNetwork } from './network.ts';
import { ensurePrerequisites, requireRoot } from './prereqs.ts';
import { isAlive } from './proc.ts';
import { keptRelease, type Release } from './release.ts';
import { LabError, waitFor, type RunResult } from './run.ts';
import { ensureSecrets } from './secrets.ts';
import { ensureClientKey, hostPublicKey, sshRun, writeKnownHosts, type KnownHost } from './ssh.ts';
import {
  bootHost, destroyHost, findNspawn, hardKill, hostMemoryKib, hostPaths, instanceNspawns, isPartitioned, leaderOf,
  nsExec, powerOff, prepareHost, removeNspawnLock, setPartitioned, unmountAll, waitBooted, type BootState, type Identity,
} from './host.ts';
import { defaultGroups, hostAddress, pickAddress, readState, topologyHosts, writeState, type HostSpec, type LabState, type Topology } from './topology.ts';

export type Log = (message: string) => void;
const MIRROR_HOST = new URL(MIRROR).hostname;

export interface HostReport {
  name: string;
  address: string;
  boot: BootState;
}

// ---------------------------------------------------------------- up / add / start

export interface UpOptions {
  /** Only at the first `up`: a later one keeps the instance's, and refuses a different one. */
  topology?: Topology;
  /** Debian release, likewise chosen at the first up and kept (a different one is refused). */
  release?: Release;
}

export async function up(inst: Instance, log: Log, opts: UpOptions = {}): Promise<HostReport[]> {
  await ensurePrerequisites(log);
  return withLock(inst.lockPath, `lab instance ${inst.name}`, async () => {
    const previous = readState(inst);
    const state = previous ?? { topology: opts.topology ?? 'default', hosts: topologyHosts(opts.topology ?? 'default'), mirror: [] };
    // A state from before releases existed was made on bookworm.
    state.release = keptRelease(inst.name, previous ? releaseOf(previous) : undefined, opts.release);
    const image = await ensureImage(state.release, log);
    const has = state.topology ?? 'default';
    if (opts.topology && opts.topology !== has) {
      throw new LabError(`lab instance ${inst.name} has the ${has} topology, not ${opts.topology}`, `${envPrefix(inst)}npm run lab -- down, then up --topology ${opts.topology}`);
    }
    const id = await identity(inst, state);
    writeState(inst, state);
    await ensureNetwork(inst, state.mirror);
    const reports = await bringUp(inst, state.hosts, image, id, log);
    writeInventory(inst, state.hosts);
    return reports;
  });
}

/** Adds a host (or brings an existing one up) without touching the others. */
export async function add(inst: Instance, name: string, groups: string[] | undefined, log: Log): Promise<HostReport> {
  requireRoot();
  return withLock(inst.lockPath, `lab instance ${inst.name}`, async () => {
    const state = requireUp(inst, await readUpState(inst));
    let spec = state.hosts.find((h) => h.name === name);
    if (!spec) {
      spec = { name, last: pickAddress(name, new Set(state.hosts.map((h) => h.last))), groups: groups ?? defaultGroups(name) };
      state.hosts.push(spec);
    } else if (groups) {
      spec.groups = groups;
    }
    const image = await ensureImage(releaseOf(state), log);
    const id = await identity(inst, state);
    writeState(inst, state);
    await ensureNetwork(inst, state.mirror);
    const [report] = await bringUp(inst, [spec], image, id, log);
    writeKnownHostsFor(inst, state.hosts);
    writeInventory(inst, state.hosts);
    return report!;
  });
}

/** Boots a stopped or killed host again, filesystem as it was. */
export async function start(inst: Instance, name: string, log: Log): Promise<HostReport> {
  requireRoot();
  return withLock(inst.lockPath, `lab instance ${inst.name}`, async () => {
    const state = requireUp(inst, await readUpState(inst));
    const spec = requireHost(state, name);
    const image = await ensureImage(releaseOf(state), log);
    const id = await identity(inst, state);
    const [report] = await bringUp(inst, [spec], image, id, log);
    return report!;
  });
}

function releaseOf(state: LabState): Release {
  return state.release ?? '12';
}

/** The Debian release of an instance's hosts (null: the instance has no state). */
export function releaseOfInstance(inst: Instance): Release | null {
  const state = readState(inst);
  return state ? releaseOf(state) : null;
}

async function identity(inst: Instance, state: LabState): Promise<Identity> {
  mkdirSync(inst.dir, { recursive: true, mode: 0o700 });
  const clientPublicKey = await ensureClientKey(inst);
  ensureSecrets(inst.secretsDir);
  const mirrorIps = await resolveMirror(MIRROR_HOST);
  // Hosts made earlier keep the address they were given: the NAT rules allow all of them.
  state.mirror = [...new Set([...mirrorIps, ...state.mirror])];
  return { hosts: state.hosts, mirrorHost: MIRROR_HOST, mirrorIp: mirrorIps[0]!, clientPublicKey };
}

async function bringUp(inst: Instance, specs: readonly HostSpec[], image: string, id: Identity, log: Log): Promise<HostReport[]> {
  await Promise.all(specs.map((s) => prepareHost(inst, s, image, id)));
  writeKnownHostsFor(inst, id.hosts);
  const booting = specs.filter((s) => !findNspawn(inst, s.name));
  if (booting.length > 0) log(`booting ${booting.map((s) => s.name).join(', ')}`);
  return Promise.all(
    specs.map(async (spec) => {
      const wasRunning = !booting.includes(spec);
      // A veth left by this host's last container would make nspawn fail ("File exists").
      if (!wasRunning) for (const n of await removeStaleVeths(inst, spec.name)) log(`${spec.name}: removed the stale veth ${n} of its last container`);
      const ref = bootHost(inst, spec.name);
      // `up` means reachable: a host left partitioned (by a test that failed halfway) is healed.
      if (wasRunning && (await isPartitioned(inst, spec.name))) {
        await setPartitioned(inst, spec.name, false);
        log(`${spec.name} was partitioned: healed`);
      }
      const boot = await waitBooted(inst, spec.name, ref);
      if (boot.state === 'degraded') log(`${spec.name}: systemd is degraded; failed units: ${boot.failedUnits.join(', ')}`);
      await waitSsh(inst, spec);
      return { name: spec.name, address: hostAddress(inst, spec), boot };
    }),
  );
}

/** sshd answers, with the recorded host key, as the right host. */
async function waitSsh(inst: Instance, spec: HostSpec): Promise<void> {
  let last: RunResult | undefined;
  await waitFor(`ssh to ${spec.name}`, 30_000, async () => {
    last = await sshRun(inst, hostAddress(inst, spec), 'hostname', { timeoutMs: 10_000 });
    if (last.code === 0 && last.stdout.trim() === spec.name) return true;
    return undefined;
  }, 300).catch((e: unknown) => {
    throw new LabError(`${e instanceof Error ? e.message : String(e)}: ${last?.stderr.trim() || last?.stdout.trim() || ''}`);
  });
}

function writeKnownHostsFor(inst: Instance, hosts: readonly HostSpec[]): void {
  const known: KnownHost[] = [];
  for (const h of hosts) {
    try {
      // From the host's own upper layer: the key made before its first boot.
      known.push({ name: h.name, address: hostAddress(inst, h), publicKey: hostPublicKey(hostPaths(inst, h.name).upper) });
    } catch {
      // not created yet
    }
  }
  writeKnownHosts(inst.knownHosts, known);
}

async function readUpState(inst: Instance): Promise<LabState | null> {
  const state = readState(inst);
  return state && (await bridgeExists(inst.bridge)) ? state : null;
}

function requireUp(inst: Instance, state: LabState | null): LabState {
  if (!state) throw new LabError(`lab instance ${inst.name} is not up`, `${envPrefix(inst)}npm run lab -- up`);
  return state;
}

function requireHost(state: LabState, name: string): HostSpec {
  const spec = state.hosts.find((h) => h.name === name);
  if (!spec) throw new LabError(`no host ${name} in this lab (hosts: ${state.hosts.map((h) => h.name).join(', ')})`);
  return spec;
}

function envPrefix(inst: Instance): string {
  return inst.name === 'lab' ? '' : `RIGGER_LAB=${inst.name} `;
}

// ---------------------------------------------------------------- down / remove

/** Leaves nothing behind, even after a half-failed up. The base image and secrets stay. */
export async function down(inst: Instance, log: Log): Promise<void> {
  requireRoot();
  await withLock(inst.lockPath, `lab instance ${inst.name}`, async () => {
    const refs = instanceNspawns(inst);
    if (refs.length > 0) log(`powering off ${refs.length} host(s)`);
    await Promise.all(refs.map((r) => powerOff(r, 20_000)));
    for (const name of hostDirs(inst)) removeNspawnLock(inst, name);
    await unmountAll(inst);
    rmSync(inst.hostsDir, { recursive: true, force: true });
    removePropagateDirs(inst);
    removeCgroups(`${inst.name}-`);
    await teardownNetwork(inst);
    for (const f of [inst.knownHosts, inst.inventoryPath, inst.statePath]) rmSync(f, { force: true });
    if (inst.inventoryDir.startsWith(`${inst.dir}/`)) rmSync(inst.inventoryDir, { recursive: true, force: true });
    pruneImages();
  });
}

function hostDirs(inst: Instance): string[] {
  try {
    return readdirSync(inst.hostsDir);
  } catch {
    return [];
  }
}

/** nspawn's per-machine runtime dirs, which a killed nspawn cannot remove itself. */
function removePropagateDirs(inst: Instance): void {
  const dir = '/run/systemd/nspawn/propagate';
  try {
    for (const d of readdirSync(dir)) if (d.startsWith(`${inst.name}-`)) rmSync(join(dir, d), { recursive: true, force: true });
  } catch {
    // nothing there
  }
}

/** Deletes one host: powers it off, removes its files, and drops it from the inventory. */
export async function remove(inst: Instance, name: string): Promise<void> {
  requireRoot();
  await withLock(inst.lockPath, `lab instance ${inst.name}`, async () => {
    const state = readState(inst);
    if (!state) throw new LabError(`lab instance ${inst.name} is not up`);
    requireHost(state, name);
    const ref = findNspawn(inst, name);
    if (ref) await powerOff(ref, 20_000);
    await destroyHost(inst, name);
    state.hosts = state.hosts.filter((h) => h.name !== name);
    writeState(inst, state);
    writeKnownHostsFor(inst, state.hosts);
    writeInventory(inst, state.hosts);
  });
}

// ---------------------------------------------------------------- faults

export type Fault = 'stop' | 'kill' | 'partition' | 'heal';

export async function fault(inst: Instance, verb: Fault, name: string): Promise<string> {
  requireRoot();
  const state = readState(inst);
  if (!state) throw new LabError(`lab instance ${inst.name} is not up`, `${envPrefix(inst)}npm run lab -- up`);
  requireHost(state, name);
  switch (verb) {
    case 'stop': {
      const ref = findNspawn(inst, name);
      if (!ref) return `${name} was already stopped`;
      return (await powerOff(ref)) === 'stopped' ? `${name} powered off` : `${name} did not power off in time: killed`;
    }
    case 'kill': {
      const ref = findNspawn(inst, name);
      if (!ref) return `${name} was not running`;
      await hardKill(ref);
      return `${name} killed (power cut)`;
    }
    case 'partition':
      return `${name} partitioned (bridge port ${await setPartitioned(inst, name, true)} down; the host keeps running)`;
    case 'heal':
      return `${name} healed (bridge port ${await setPartitioned(inst, name, false)} up)`;
  }
}

// ---------------------------------------------------------------- commands on hosts

export function addressOf(inst: Instance, name: string): string {
  const state = readState(inst);
  if (!state) throw new LabError(`lab instance ${inst.name} is not up`, `${envPrefix(inst)}npm run lab -- up`);
  return hostAddress(inst, requireHost(state, name));
}

/** Runs a POSIX sh script inside the host through nsenter (the lab's back door, not SSH). */
export async function execIn(inst: Instance, name: string, script: string, input?: string): Promise<RunResult> {
  const ref = findNspawn(inst, name);
  const leader = ref && leaderOf(ref);
  if (!leader) throw new LabError(`${name} is not running`, `${envPrefix(inst)}npm run lab -- start ${name}`);
  return nsExec(leader, script, input !== undefined ? { input } : {});
}

export function leaderPid(inst: Instance, name: string): number | null {
  const ref = findNspawn(inst, name);
  return ref && isAlive(ref) ? leaderOf(ref) : null;
}

// ---------------------------------------------------------------- status

export interface HostStatus {
  name: string;
  address: string;
  groups: string[];
  state: 'running' | 'stopped' | 'missing';
  /** systemd's own word (running, degraded, starting, ...) when running. */
  systemd?: string;
  partitioned?: boolean;
  memoryKib?: number;
}

export async function status(inst: Instance): Promise<{ up: boolean; hosts: HostStatus[] }> {
  const state = readState(inst);
  const isUp = state !== null && (await bridgeExists(inst.bridge));
  const hosts = await Promise.all(
    (state?.hosts ?? []).map(async (h): Promise<HostStatus> => {
      const base = { name: h.name, address: hostAddress(inst, h), groups: h.groups };
      const ref = findNspawn(inst, h.name);
      const leader = ref && leaderOf(ref);
      if (!leader) return { ...base, state: isPrepared(inst, h.name) ? 'stopped' : 'missing' };
      const systemd = (await nsExec(leader, 'systemctl is-system-running', { timeoutMs: 10_000 })).stdout.trim();
      const memoryKib = hostMemoryKib(inst, h.name) ?? undefined;
      return { ...base, state: 'running', systemd, partitioned: await isPartitioned(inst, h.name), ...(memoryKib !== undefined ? { memoryKib } : {}) };
    }),
  );
  return { up: isUp, hosts };
}

function isPrepared(inst: Instance, name: string): boolean {
  try {
    return readdirSync(hostPaths(inst, name).dir).includes('prepared');
  } catch {
    return false;
  }
}
