/**
 * What the lab tests ask of a running cluster, through the lab handle: a command inside a host
 * (nsenter: works on a partitioned host too), Patroni's view from every member, a settled
 * healthy cluster, HAProxy's read pool, the etcd member list, the superuser password.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCluster, type ClusterState } from '../../roles/patroni/live.ts';
import { mergeStates, routedTo } from '../../roles/haproxy/live.ts';
import type { LabHandle } from './lab.ts';
import { eventually } from './rigger-cli.ts';

export interface ClusterHelpers {
  /** Runs `cmd` inside the host; a non-zero exit throws. Trimmed stdout. */
  inside(host: string, cmd: string): Promise<string>;
  /** GET /cluster through the member on `host`. */
  cluster(host: string): Promise<ClusterState>;
  /** Every member running on one timeline, replicas without lag, one leader, a sync standby. */
  healthy(c: ClusterState, names: string[]): boolean;
  leaderOf(c: ClusterState): string;
  /** Until every member's own Patroni reports the same healthy cluster of `names`. */
  settled(what: string, timeoutMs: number, names: string[]): Promise<ClusterState>;
  /** Servers a balancer routes reads to (up and ready in postgres_replicas). */
  readPool(lb: string): Promise<string[]>;
  /** Names of the etcd members, sorted, through `host`'s etcdctl. */
  etcdMembers(host: string): Promise<string[]>;
  password(): string;
}

export function clusterHelpers(lab: LabHandle): ClusterHelpers {
  async function inside(host: string, cmd: string): Promise<string> {
    const r = await lab.exec(host, cmd);
    if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  }
  async function cluster(host: string): Promise<ClusterState> {
    return parseCluster(JSON.parse(await inside(host, 'curl -sS --max-time 5 http://127.0.0.1:8008/cluster')));
  }
  const healthy = (c: ClusterState, names: string[]) =>
    c.members.length === names.length &&
    c.members.every((m) => names.includes(m.name) && (m.state === 'running' || m.state === 'streaming') && m.timeline !== null && m.timeline === c.members[0]!.timeline) &&
    c.members.filter((m) => m.role !== 'leader').every((m) => m.lagBytes === 0) &&
    c.members.filter((m) => m.role === 'leader').length === 1 &&
    c.members.some((m) => m.role === 'sync_standby');
  const leaderOf = (c: ClusterState) => c.members.find((m) => m.role === 'leader')!.name;
  async function settled(what: string, timeoutMs: number, names: string[]): Promise<ClusterState> {
    const shape = (c: ClusterState) => JSON.stringify(c.members.map((m) => [m.name, m.role]).sort());
    const views = await eventually(
      what,
      () => Promise.all(names.map((h) => cluster(h))),
      (vs) => vs.every((c) => healthy(c, names) && shape(c) === shape(vs[0]!)),
      timeoutMs,
    );
    return views[0]!;
  }
  async function readPool(lb: string): Promise<string[]> {
    const states = await inside(lb, `echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock; echo @@; echo 'show servers state' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`);
    const [stat = '', state = ''] = states.split('@@\n');
    return routedTo(mergeStates(stat, state), 'postgres_replicas').sort();
  }
  async function etcdMembers(host: string): Promise<string[]> {
    const list = JSON.parse(await inside(host, 'ETCDCTL_API=3 etcdctl member list -w json')) as { members: Array<{ name?: string }> };
    return list.members.map((m) => m.name ?? '').sort();
  }
  const password = () => readFileSync(join(lab.secretsDir, 'pg-superuser'), 'utf8').trim();
  return { inside, cluster, healthy, leaderOf, settled, readPool, etcdMembers, password };
}
