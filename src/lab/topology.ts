/**
 * Which hosts an instance has: the default topology, then hosts added with `lab add`. Kept
 * in <state>/lab.json so `up` boots the same set again and `add` picks a free address.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { addressIn, type Instance } from './instance.ts';
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

const LabStateSchema = z.object({
  hosts: z.array(HostSpecSchema),
  /** Mirror addresses the hosts were given in /etc/hosts (NAT lets them through). */
  mirror: z.array(z.string()),
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
