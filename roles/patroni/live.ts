/**
 * Live Patroni state through its REST API, called with curl on a cluster host (everything goes
 * through the host's SSH connection; nothing from the control machine). Secrets and bodies
 * reach curl on stdin as a config file (`-K -`), never on its command line.
 *
 * Reused by the day-2 playbooks: clusterState() and leaderOf() take anything with the host and
 * its exec — a TaskContext, or a play hook's HostView.
 */
import { z } from 'zod';
import type { Secret } from '../../src/core/secret.ts';
import { TaskError } from '../../src/engine/types.ts';
import type { Remote } from '../../src/toolkit/index.ts';

export interface ApiTarget {
  /** Base URL; default http://127.0.0.1:<port> (the REST API of the host the call runs on). */
  baseUrl?: string;
  /** REST API port when baseUrl is not given (default 8008). */
  port?: number;
}

export interface ApiAuth {
  username: string;
  password: Secret;
}

export interface ApiRequest extends ApiTarget {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
  auth?: ApiAuth;
  timeoutS?: number;
}

export type ApiResponse = { ok: true; status: number; body: string } | { ok: false; error: string };

/** A string for curl's config file: double-quoted, with \ " and control characters escaped. */
export function curlConfigString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}

export function baseUrlOf(t: ApiTarget): string {
  return t.baseUrl ?? `http://127.0.0.1:${t.port ?? 8008}`;
}

/** The curl config (fed on stdin) for one request. */
export function curlConfig(req: ApiRequest): string {
  const lines = [
    `url = ${curlConfigString(baseUrlOf(req) + req.path)}`,
    `request = ${curlConfigString(req.method ?? 'GET')}`,
    `max-time = ${req.timeoutS ?? 10}`,
    'silent',
    'show-error',
    // The status code on a line of its own after the body.
    `write-out = ${curlConfigString('\n%{http_code}')}`,
  ];
  if (req.auth) lines.push(`user = ${curlConfigString(`${req.auth.username}:${req.auth.password.reveal()}`)}`);
  if (req.body !== undefined) {
    lines.push(`header = ${curlConfigString('Content-Type: application/json')}`);
    lines.push(`data-binary = ${curlConfigString(JSON.stringify(req.body))}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One HTTP request from the host. A transport-level failure (refused, timeout) is ok: false. */
export async function api(remote: Remote, req: ApiRequest): Promise<ApiResponse> {
  // curl's own max-time bounds the request; this bounds a host that stopped answering.
  const r = await remote.exec('curl -K -', { stdin: curlConfig(req), timeoutMs: ((req.timeoutS ?? 10) + 10) * 1000 });
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ');
    return { ok: false, error: `${req.method ?? 'GET'} ${baseUrlOf(req)}${req.path}: ${why || `curl exit ${r.code}`}` };
  }
  const nl = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(nl + 1).trim());
  return { ok: true, status, body: r.stdout.slice(0, Math.max(0, nl)) };
}

/** GET a JSON document; throws a TaskError on a transport failure or a non-2xx answer. */
export async function getJson(remote: Remote, path: string, target: ApiTarget = {}): Promise<unknown> {
  const r = await api(remote, { ...target, path });
  if (!r.ok) throw new TaskError(`Patroni REST API: ${r.error}`);
  if (r.status < 200 || r.status > 299) throw new TaskError(`Patroni REST API: GET ${baseUrlOf(target)}${path}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  try {
    return JSON.parse(r.body) as unknown;
  } catch {
    throw new TaskError(`Patroni REST API: GET ${baseUrlOf(target)}${path}: not JSON: ${r.body.slice(0, 200)}`);
  }
}

// --- GET /cluster ---------------------------------------------------------------------

export const MemberRoleSchema = z.enum(['leader', 'sync_standby', 'replica']);
export type MemberRole = z.infer<typeof MemberRoleSchema>;

const RawMember = z.looseObject({
  name: z.string(),
  role: z.string(),
  state: z.string(),
  api_url: z.string().optional(),
  host: z.string().optional(),
  port: z.number().optional(),
  timeline: z.number().nullable().optional(),
  lag: z.union([z.number(), z.string()]).optional(),
  pending_restart: z.boolean().optional(),
  tags: z.record(z.string(), z.unknown()).optional(),
});
const RawCluster = z.looseObject({ members: z.array(RawMember), pause: z.boolean().optional() });

export interface Member {
  name: string;
  role: MemberRole;
  /** running, streaming, starting, stopped, crashed, creating replica, ... */
  state: string;
  host: string;
  port: number;
  /** http://addr:8008/patroni as the member advertises it. */
  apiUrl: string;
  timeline: number | null;
  /** Replication lag in bytes (0 for the leader); null when Patroni reports it unknown. */
  lagBytes: number | null;
  pendingRestart: boolean;
  /** tags.nosync: never chosen as the synchronous standby. */
  nosync: boolean;
}

export interface ClusterState {
  members: Member[];
  /** Maintenance mode (`patronictl pause`): Patroni neither fails over nor restarts anything. */
  paused?: boolean;
}

/** Parses GET /cluster; a role this code does not know is an error (never guessed). */
export function parseCluster(doc: unknown): ClusterState {
  const parsed = RawCluster.safeParse(doc);
  if (!parsed.success) throw new TaskError(`unexpected GET /cluster answer: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const members = parsed.data.members.map((m): Member => {
    const role = MemberRoleSchema.safeParse(m.role);
    if (!role.success) throw new TaskError(`member ${m.name} reports role "${m.role}", which is neither leader, sync_standby nor replica`);
    return {
      name: m.name,
      role: role.data,
      state: m.state,
      host: m.host ?? '',
      port: m.port ?? 5432,
      apiUrl: m.api_url ?? '',
      timeline: m.timeline ?? null,
      lagBytes: role.data === 'leader' ? 0 : typeof m.lag === 'number' ? m.lag : null,
      pendingRestart: m.pending_restart ?? false,
      nosync: m.tags?.['nosync'] === true,
    };
  });
  return { members, ...(parsed.data.pause ? { paused: true } : {}) };
}

/** The cluster as the member on this host sees it (GET /cluster is a safe endpoint: no auth). */
export async function clusterState(client: Remote, target: ApiTarget = {}): Promise<ClusterState> {
  return parseCluster(await getJson(client, '/cluster', target));
}

/** The one leader; none or several is an error naming what was seen. */
export function leaderOf(cluster: ClusterState): Member {
  const leaders = cluster.members.filter((m) => m.role === 'leader');
  if (leaders.length !== 1) throw new TaskError(`expected exactly one leader, found ${leaders.length}: ${describeCluster(cluster)}`);
  return leaders[0]!;
}

/** Asks the cluster (through this host's member) who leads right now. */
export async function findLeader(client: Remote, target: ApiTarget = {}): Promise<Member> {
  return leaderOf(await clusterState(client, target));
}

/** pg1 leader running tl 1, pg2 sync_standby streaming tl 1 lag 0, ... */
export function describeCluster(c: ClusterState): string {
  if (c.members.length === 0) return 'no members';
  return c.members
    .map((m) => `${m.name} ${m.role} ${m.state}${m.timeline !== null ? ` tl ${m.timeline}` : ''}${m.role !== 'leader' ? ` lag ${m.lagBytes ?? 'unknown'}` : ''}${m.pendingRestart ? ' pending_restart' : ''}`)
    .join(', ');
}

/** Running states: Patroni 3.0 says running for replicas, later versions streaming. */
export function isRunning(m: Member): boolean {
  return m.state === 'running' || m.state === 'streaming';
}

// --- GET /patroni (this member) ---------------------------------------------------------

const RawSelf = z.looseObject({
  state: z.string(),
  role: z.string(),
  timeline: z.number().nullable().optional(), // Patroni 3.0 replicas answer null
  pending_restart: z.boolean().optional(),
});

export interface SelfState {
  state: string;
  /** primary (Patroni says master or primary) or replica. */
  role: 'primary' | 'replica';
  timeline: number | null;
  pendingRestart: boolean;
}

export function parseSelf(doc: unknown, who: string): SelfState {
  const p = RawSelf.safeParse(doc);
  if (!p.success) throw new TaskError(`${who}: unexpected GET /patroni answer`);
  const role = p.data.role === 'master' || p.data.role === 'primary' ? 'primary' : p.data.role === 'replica' ? 'replica' : null;
  if (!role) throw new TaskError(`${who} answers as "${p.data.role}", neither leader nor replica`);
  return { state: p.data.state, role, timeline: p.data.timeline ?? null, pendingRestart: p.data.pending_restart ?? false };
}

/** GET /patroni of one member (default: the one on this host). */
export async function selfState(client: Remote, target: ApiTarget = {}): Promise<SelfState> {
  return parseSelf(await getJson(client, '/patroni', target), baseUrlOf(target));
}

// --- GET/PATCH /config ------------------------------------------------------------------

export async function dcsConfig(client: Remote, target: ApiTarget = {}): Promise<Record<string, unknown>> {
  const doc = await getJson(client, '/config', target);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new TaskError('GET /config: expected an object');
  return doc as Record<string, unknown>;
}

/** PATCH /config (an unsafe endpoint: basic auth). Returns the new configuration. */
export async function patchDcsConfig(client: Remote, patch: Record<string, unknown>, auth: ApiAuth, target: ApiTarget = {}): Promise<void> {
  const r = await api(client, { ...target, method: 'PATCH', path: '/config', body: patch, auth });
  if (!r.ok) throw new TaskError(`Patroni REST API: ${r.error}`);
  if (r.status !== 200) throw new TaskError(`PATCH /config: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
}

/** POST /restart on one member: restarts its PostgreSQL (Patroni itself keeps running). */
export async function restartMember(client: Remote, apiBase: string, auth: ApiAuth, timeoutS = 120): Promise<void> {
  const r = await api(client, { baseUrl: apiBase, method: 'POST', path: '/restart', body: {}, auth, timeoutS });
  if (!r.ok) throw new TaskError(`Patroni REST API: ${r.error}`);
  if (r.status !== 200) throw new TaskError(`POST ${apiBase}/restart: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
}

/** http://10.0.0.1:8008/patroni -> http://10.0.0.1:8008 */
export function apiBaseOf(m: Member): string {
  return m.apiUrl.replace(/\/patroni\/?$/, '');
}
