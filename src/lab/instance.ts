/**
 * Lab instances: `lab` (the shared one: bridge rig0, 10.213.7.0/24) and any other name
 * (own bridge, next free /24 from 10.213.8.0 up). The name -> subnet registry lives in the
 * state root so an instance keeps its subnet across down/up.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { withLock } from './lock.ts';
import { LabError } from './run.ts';

export const STATE_ROOT = '/var/lib/rigger-lab';
/** Base image cache, shared by all instances (RIGGER_LAB_CACHE: build a fresh one elsewhere). */
export const CACHE_ROOT = process.env.RIGGER_LAB_CACHE?.trim() || '/var/cache/rigger-lab';
export const DEFAULT_INSTANCE = 'lab';
const FIRST_OCTET = 7;
const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface Instance {
  name: string;
  /** Third octet of 10.213.X.0/24. */
  octet: number;
  bridge: string;
  subnet: string;
  prefix: number;
  /** The bridge's address: default gateway of the hosts. */
  gateway: string;
  vip: string;
  dir: string;
  hostsDir: string;
  privateKey: string;
  knownHosts: string;
  secretsDir: string;
  statePath: string;
  lockPath: string;
  inventoryDir: string;
  inventoryPath: string;
  /** iptables comment that marks this instance's rules (and only them). */
  ruleTag: string;
}

const Registry = z.record(z.string(), z.number().int().min(FIRST_OCTET).max(254));
type Registry = z.infer<typeof Registry>;
const registryPath = join(STATE_ROOT, 'instances.json');

/** Short, so that machine and interface names built from it stay within kernel limits. */
export const INSTANCE_NAME = /^[a-z][a-z0-9]{0,9}$/;

export function instanceName(): string {
  const name = process.env.RIGGER_LAB?.trim() || DEFAULT_INSTANCE;
  if (!INSTANCE_NAME.test(name)) {
    throw new LabError(`RIGGER_LAB=${name}: an instance name is 1-10 lowercase letters/digits, starting with a letter`);
  }
  return name;
}

export function addressIn(inst: Pick<Instance, 'octet'>, last: number): string {
  return `10.213.${inst.octet}.${last}`;
}

/** The instance's layout; allocates its subnet on first use (allocate=false: only look). */
export async function resolveInstance(name: string, allocate = true): Promise<Instance | null> {
  let octet = readRegistry()[name];
  if (octet === undefined && name === DEFAULT_INSTANCE) octet = FIRST_OCTET;
  if (octet === undefined) {
    if (!allocate) return null;
    octet = await withLock(join(STATE_ROOT, 'registry.lock'), 'the instance registry', async () => {
      const reg = readRegistry();
      const taken = new Set([FIRST_OCTET, ...Object.values(reg)]);
      let next = reg[name];
      if (next === undefined) {
        next = FIRST_OCTET + 1;
        while (taken.has(next)) next++;
        if (next > 254) throw new LabError('no free lab subnet left in 10.213.0.0/16');
        writeRegistry({ ...reg, [name]: next });
      }
      return next;
    });
  }
  return layout(name, octet);
}

function layout(name: string, octet: number): Instance {
  const dir = join(STATE_ROOT, name);
  const inventoryDir = name === DEFAULT_INSTANCE ? join(REPO_ROOT, 'inventories', 'lab') : join(dir, 'inventory');
  return {
    name,
    octet,
    bridge: name === DEFAULT_INSTANCE ? 'rig0' : `rig-${name}`,
    subnet: `10.213.${octet}.0/24`,
    prefix: 24,
    gateway: `10.213.${octet}.1`,
    vip: `10.213.${octet}.100`,
    dir,
    hostsDir: join(dir, 'hosts'),
    privateKey: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    secretsDir: join(dir, 'secrets'),
    statePath: join(dir, 'lab.json'),
    lockPath: join(dir, 'lock'),
    inventoryDir,
    inventoryPath: join(inventoryDir, 'hosts.yml'),
    ruleTag: `rigger-lab:${name}`,
  };
}

function readRegistry(): Registry {
  if (!existsSync(registryPath)) return {};
  const parsed = Registry.safeParse(JSON.parse(readFileSync(registryPath, 'utf8')));
  if (!parsed.success) throw new LabError(`${registryPath} is damaged: ${parsed.error.message}`, `fix or delete ${registryPath}`);
  return parsed.data;
}

function writeRegistry(reg: Registry): void {
  mkdirSync(STATE_ROOT, { recursive: true });
  const tmp = `${registryPath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(reg, null, 2)}\n`);
  renameSync(tmp, registryPath);
}

/** Every instance known to the registry, plus `lab`. */
export function knownInstances(): Instance[] {
  const reg = { [DEFAULT_INSTANCE]: FIRST_OCTET, ...readRegistry() };
  return Object.entries(reg).map(([n, o]) => layout(n, o));
}
