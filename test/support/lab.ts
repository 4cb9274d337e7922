/**
 * The lab for tests: `ensureLab()` brings the instance up (idempotent: the first lab test file
 * of a run boots it, later ones find it up in about a second) and returns a handle to reach
 * its hosts. The instance is RIGGER_LAB (default `lab`, the one the suite shares).
 * A file that needs another shape asks for its own instance and topology
 * (`ensureLab({ instance: 'topo', topology: 'colocated' })`) and brings it down at its end
 * (`handle.down()`), so that two labs do not stay up.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { hostPaths } from '../../src/lab/host.ts';
import { instanceName, resolveInstance, type Instance } from '../../src/lab/instance.ts';
import * as lab from '../../src/lab/lab.ts';
import { overlaySupported } from '../../src/lab/prereqs.ts';
import { DEFAULT_RELEASE, type Release } from '../../src/lab/release.ts';
import { debianPostgresVersion } from '../../src/facts/release.ts';
import type { RunResult } from '../../src/lab/run.ts';
import { sshRun } from '../../src/lab/ssh.ts';
import { readState, hostAddress, type Topology } from '../../src/lab/topology.ts';

export type { RunResult };
export type LabFault = 'stop' | 'start' | 'kill' | 'partition' | 'heal';

export interface LabHandle {
  instance: string;
  /** Debian release of its hosts ('12' bookworm, '13' trixie). */
  release: Release;
  /** PostgreSQL major its hosts' packages ship (15 on 12, 17 on 13): data dirs, package names. */
  pg: number;
  /** Directory holding hosts.yml (`inventories/lab` for the shared instance), absolute. */
  inventoryDir: string;
  /** Host name -> address, kept current by add/remove. */
  hosts: Record<string, string>;
  /** keepalived's virtual IP in this instance's subnet. */
  vip: string;
  subnet: string;
  knownHosts: string;
  privateKey: string;
  /** Where the lab's secret files are (pg-superuser, pg-replication, pg-rewind, patroni-api). */
  secretsDir: string;
  /** Runs `cmd` with OpenSSH (StrictHostKeyChecking=yes, the lab known_hosts); `input` goes to its stdin. */
  ssh(host: string, cmd: string, opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Runs `cmd` inside the host through nsenter: for checks that must not depend on its network. */
  exec(host: string, cmd: string): Promise<RunResult>;
  /** Applies a fault (or `start`); resolves with what was done, e.g. "pg1 powered off". */
  fault(verb: LabFault, host: string): Promise<string>;
  /** Boots an extra host and adds it to the inventory (groups default from its name). */
  add(host: string, groups?: string[]): Promise<void>;
  /** Powers an extra host off and deletes it (and drops it from the inventory). */
  remove(host: string): Promise<void>;
  /** Whether the host's container is running. */
  isRunning(host: string): boolean;
  /** Path on the control machine of a file in the host's filesystem (readable while stopped). */
  hostFile(host: string, path: string): string;
  /** `lab down` of this instance (hosts, network, state; the image and secrets stay). */
  down(): Promise<void>;
}

export interface LabRequest {
  /** Default: RIGGER_LAB, else `lab`. */
  instance?: string;
  /** Chosen when the instance is first brought up; an instance up with another one is refused. */
  topology?: Topology;
  /** Debian release ('12' bookworm, '13' trixie), likewise chosen at the first up. */
  release?: Release;
}

const quiet = (m: string) => process.stderr.write(`lab: ${m}\n`);
const pending = new Map<string, Promise<LabHandle>>();

export function ensureLab(req: LabRequest = {}): Promise<LabHandle> {
  const name = req.instance ?? instanceName();
  let p = pending.get(name);
  if (!p) {
    p = (async () => {
      const inst = await resolveInstance(name);
      if (!inst) throw new Error('unreachable: resolveInstance allocates');
      await lab.up(inst, quiet, { ...(req.topology ? { topology: req.topology } : {}), ...(req.release ? { release: req.release } : {}) });
      return handle(inst);
    })();
    pending.set(name, p);
  }
  return p;
}

function handle(inst: Instance): LabHandle {
  const release = lab.releaseOfInstance(inst) ?? DEFAULT_RELEASE;
  const pg = debianPostgresVersion(release);
  if (pg === null) throw new Error(`no PostgreSQL version known for Debian ${release}`);
  const hosts: Record<string, string> = {};
  const refresh = () => {
    for (const k of Object.keys(hosts)) delete hosts[k];
    for (const h of readState(inst)?.hosts ?? []) hosts[h.name] = hostAddress(inst, h);
  };
  refresh();
  const addressOf = (host: string) => {
    const a = hosts[host];
    if (!a) throw new Error(`no lab host ${host} (hosts: ${Object.keys(hosts).join(', ')})`);
    return a;
  };
  return {
    instance: inst.name,
    release,
    pg,
    inventoryDir: inst.inventoryDir,
    hosts,
    vip: inst.vip,
    subnet: inst.subnet,
    knownHosts: inst.knownHosts,
    privateKey: inst.privateKey,
    secretsDir: inst.secretsDir,
    ssh: (host, cmd, opts) => sshRun(inst, addressOf(host), cmd, opts),
    exec: (host, cmd) => lab.execIn(inst, host, cmd),
    async fault(verb, host) {
      if (verb === 'start') {
        const r = await lab.start(inst, host, quiet);
        return `${r.name} running`;
      }
      return lab.fault(inst, verb, host);
    },
    async add(host, groups) {
      await lab.add(inst, host, groups, quiet);
      refresh();
    },
    async remove(host) {
      await lab.remove(inst, host);
      refresh();
    },
    isRunning: (host) => lab.leaderPid(inst, host) !== null,
    hostFile: (host, path) => join(hostPaths(inst, host).root, path),
    async down() {
      pending.delete(inst.name);
      await lab.down(inst, quiet);
      refresh();
    },
  };
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Why the lab tests cannot run here, or null. Under CI=true never skips: a missing
 * prerequisite must fail the run, not hide it.
 */
export function labSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  if (process.getuid?.() !== 0) return 'the lab needs root (overlay mounts, a bridge, NAT, containers)';
  if (!onPath('systemd-nspawn') && !onPath('apt-get')) return 'no systemd-nspawn, and no apt-get to install it';
  if (!overlaySupported()) return 'the kernel has no overlayfs';
  return null;
}
