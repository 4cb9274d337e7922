/**
 * keepalived.conf as a typed object, then text: global_defs, one vrrp_script tracking
 * HAProxy, one vrrp_instance holding the virtual IP.
 */
import type { KeepalivedVars } from './vars.ts';

export interface TrackScript {
  name: string;
  script: string;
  interval: number;
  fall: number;
  rise: number;
  /** Negative: the priority drops by this much while the check fails. */
  weight: number;
}

export interface VrrpInstance {
  name: string;
  state: 'MASTER' | 'BACKUP';
  interface: string;
  virtualRouterId: number;
  priority: number;
  advertInt: number;
  preempt: boolean;
  unicast?: { source: string; peers: string[] };
  /** Clear text, only ever rendered into the 0600 file. */
  authPass?: string;
  virtualIps: Array<{ address: string; prefix: number; dev: string }>;
  trackScripts: string[];
}

export interface KeepalivedConfig {
  routerId: string;
  scriptUser: string;
  scripts: TrackScript[];
  instances: VrrpInstance[];
}

export interface Placement {
  /** This host's inventory name (router_id). */
  host: string;
  /** Position of the host in the balancer group (0 = first), and the group's size. */
  index: number;
  groupSize: number;
  /** Interface from the vars or the facts. */
  interface: string;
  /** Own address and the other balancers' (for unicast). */
  address: string;
  peers: string[];
}

/** First host basePriority, then priorityStep less each; an explicit host priority wins. */
export function priorityFor(v: KeepalivedVars, index: number): number {
  if (v.priority !== undefined) return v.priority;
  const p = v.basePriority - index * v.priorityStep;
  if (p < 1) throw new Error(`keepalived: priority of balancer #${index + 1} would be ${p}; lower priorityStep or raise basePriority`);
  return p;
}

/** More than the spread of the group's priorities: a failed check puts a node below every healthy one. */
export function trackWeight(v: KeepalivedVars, groupSize: number): number {
  if (v.track.weight !== undefined) return v.track.weight;
  return Math.min(253, v.priorityStep * Math.max(1, groupSize));
}

export const TRACK_NAME = 'chk_haproxy';

export function keepalivedConfig(v: KeepalivedVars, p: Placement, authPass?: string): KeepalivedConfig {
  // keepalived splits on blanks and starts comments with # or !; PASS auth keeps 8 characters.
  if (authPass !== undefined && !/^[^\s#!"]{1,8}$/.test(authPass)) {
    throw new Error('keepalived.authPassword: VRRP PASS authentication takes 1 to 8 characters without blanks, quotes, # or !');
  }
  if (v.track.script.includes('"')) throw new Error('keepalived.track.script: must not contain double quotes');
  const priority = priorityFor(v, p.index);
  return {
    routerId: p.host,
    scriptUser: v.scriptUser,
    scripts: [
      {
        name: TRACK_NAME,
        script: v.track.script,
        interval: v.track.interval,
        fall: v.track.fall,
        rise: v.track.rise,
        weight: -trackWeight(v, p.groupSize),
      },
    ],
    instances: [
      {
        name: v.instanceName,
        // nopreempt only works from BACKUP; with preemption the priority decides anyway.
        state: v.preempt && p.index === 0 && v.priority === undefined ? 'MASTER' : 'BACKUP',
        interface: p.interface,
        virtualRouterId: v.virtualRouterId,
        priority,
        advertInt: v.advertInt,
        preempt: v.preempt,
        ...(v.unicast ? { unicast: { source: p.address, peers: p.peers } } : {}),
        ...(authPass !== undefined ? { authPass } : {}),
        virtualIps: [{ address: v.virtualIp, prefix: v.prefix, dev: p.interface }],
        trackScripts: [TRACK_NAME],
      },
    ],
  };
}

function block(head: string, body: string[], indent = ''): string[] {
  return [`${indent}${head} {`, ...body.map((l) => `${indent}    ${l}`), `${indent}}`];
}

export function renderKeepalivedConf(c: KeepalivedConfig): string {
  const out: string[] = ['# Managed by rigger (role keepalived). Local changes are overwritten.', ''];
  out.push(...block('global_defs', [`router_id ${c.routerId}`, `script_user ${c.scriptUser}`, 'enable_script_security']), '');
  for (const s of c.scripts) {
    out.push(
      ...block(`vrrp_script ${s.name}`, [
        `script "${s.script}"`,
        `interval ${s.interval}`,
        `fall ${s.fall}`,
        `rise ${s.rise}`,
        `weight ${s.weight}`,
      ]),
      '',
    );
  }
  for (const i of c.instances) {
    const body: string[] = [
      `state ${i.state}`,
      `interface ${i.interface}`,
      `virtual_router_id ${i.virtualRouterId}`,
      `priority ${i.priority}`,
      `advert_int ${i.advertInt}`,
    ];
    if (!i.preempt) body.push('nopreempt');
    if (i.unicast) {
      body.push(`unicast_src_ip ${i.unicast.source}`);
      body.push(...block('unicast_peer', i.unicast.peers));
    }
    if (i.authPass !== undefined) body.push(...block('authentication', ['auth_type PASS', `auth_pass ${i.authPass}`]));
    body.push(...block('virtual_ipaddress', i.virtualIps.map((v) => `${v.address}/${v.prefix} dev ${v.dev}`)));
    body.push(...block('track_script', i.trackScripts));
    out.push(...block(`vrrp_instance ${i.name}`, body), '');
  }
  return out.join('\n');
}
