/**
 * Which hosts an instance has: a topology preset chosen at its first `up`, then hosts added
 * with `lab add`. Kept in <state>/lab.json so `up` boots the same set again and `add` picks a
 * free address.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { addressIn, type Instance } from './instance.ts';
import { RELEASE_NAMES, type Release } from './release.ts';
import { LabError } from './run.ts';

export const HOST_NAME = /^[a-z][a-z0-9]{0,11}$/;
export const GROUP_NAME = /^[a-z][a-z0-9_-]*$/;

export const HostSpecSchema = z.object({
  name: z.string().regex(HOST_NAME),
  /** Last octet of the address in the instance subnet. */
  last: z.number().int().min(2).max(254),
  groups: z.array(z.string().regex(GROUP_NAME)),
});
export type HostSpec = z.infer<typeof HostSpecSchema>;

/** default: etcd on the database hosts, two balancer hosts; colocated: balancers on the database hosts, etcd on its own. */
export const TOPOLOGIES = ['default', 'colocated'] as const;
export const TopologySchema = z.enum(TOPOLOGIES);
export type Topology = z.infer<typeof TopologySchema>;

const LabStateSchema = z.object({
  /** Absent in a lab.json written before presets existed: the default one. */
  topology: TopologySchema.optional(),
  hosts: z.array(HostSpecSchema),
  /** Mirror addresses the hosts were given in /etc/hosts (NAT lets them through). */
  mirror: z.array(z.string()),
  /** Debian release of every host, chosen at the first up (absent in states made before: 12). */
  release: z.enum(RELEASE_NAMES as [Release, ...Release[]]).optional(),
});
export type LabState = z.infer<typeof LabStateSchema>;

export function defaultTopology(): HostSpec[] {
  const db = ['postgres', 'etcd'];
  return [
    { name: 'pg1', last: 11, groups: db },
    { name: 'pg2', last: 12, groups: db },
    { name: 'pg3', last: 13, groups: db },
    { name: 'lb1', last: 21, groups: ['balancers'] },
    { name: 'lb2', last: 22, groups: ['balancers'] },
    { name: 'backup1', last: 31, groups: ['backup'] },
  ];
}

/** The usual 3-node shape: HAProxy + keepalived on the database hosts, a dedicated etcd quorum. */
export function colocatedTopology(): HostSpec[] {
  const db = ['postgres', 'balancers'];
  return [
    { name: 'pg1', last: 11, groups: db },
    { name: 'pg2', last: 12, groups: db },
    { name: 'pg3', last: 13, groups: db },
    { name: 'etcd1', last: 41, groups: ['etcd'] },
    { name: 'etcd2', last: 42, groups: ['etcd'] },
    { name: 'etcd3', last: 43, groups: ['etcd'] },
    { name: 'backup1', last: 31, groups: ['backup'] },
  ];
}

export function topologyHosts(t: Topology): HostSpec[] {
  return t === 'colocated' ? colocatedTopology() : defaultTopology();
}

/** Last octets never given to a host: the gateway, the keepalived VIP. */
const RESERVED = new Set([1, 100]);

/** pgN -> .10+N, lbN -> .20+N (N 1-9); any other name -> the next free address from .31. */
export function pickAddress(name: string, taken: ReadonlySet<number>): number {
  const m = /^(pg|lb)([1-9])$/.exec(name);
  if (m) {
    const last = (m[1] === 'pg' ? 10 : 20) + Number(m[2]);
    if (taken.has(last)) throw new LabError(`address .${last} of ${name} is already taken`);
    return last;
  }
  for (let last = 31; last <= 254; last++) if (!taken.has(last) && !RESERVED.has(last)) return last;
  throw new LabError('no free address left in the lab subnet');
}

export function defaultGroups(name: string): string[] {
  if (/^pg\d+$/.test(name)) return ['postgres'];
  if (/^lb\d+$/.test(name)) return ['balancers'];
  return [];
}

export function hostAddress(inst: Instance, h: HostSpec): string {
  return addressIn(inst, h.last);
}

export function readState(inst: Instance): LabState | null {
  if (!existsSync(inst.statePath)) return null;
  const parsed = LabStateSchema.safeParse(JSON.parse(readFileSync(inst.statePath, 'utf8')));
  if (!parsed.success) {
    throw new LabError(`${inst.statePath} is damaged: ${parsed.error.message}`, `RIGGER_LAB=${inst.name} npm run lab -- down, then up`);
  }
  return parsed.data;
}

export function writeState(inst: Instance, state: LabState): void {
  mkdirSync(dirname(inst.statePath), { recursive: true });
  const tmp = `${inst.statePath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, inst.statePath);
}
