/**
 * HAProxy's runtime API (the admin socket of haproxy.cfg) from a shell on the balancer:
 * read every server's state, and put a server in drain or maintenance and back without a
 * reload. For day-2 operations (take a member out before touching it). Uses socat when
 * installed (the role installs it), else python3.
 */
import { shQuote } from '../../src/transport/types.ts';
import type { Remote } from '../../src/toolkit/index.ts';
import { TaskError } from '../../src/engine/types.ts';

export const DEFAULT_SOCKET = '/run/haproxy/admin.sock';

/** ready: takes traffic; drain: keeps its sessions, gets no new ones; maint: out, sessions cut. */
export type AdminState = 'ready' | 'drain' | 'maint';

export interface ServerState {
  /** The `listen` section (e.g. postgres_primary). */
  backend: string;
  server: string;
  address: string;
  /** haproxy's status word: UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/3" (going down), "no check"... */
  status: string;
  /** Health: passes its checks and is not in maintenance. */
  up: boolean;
  admin: AdminState;
  /** Last check result, e.g. L7OK, L7STS (wrong HTTP status), L4CON. */
  checkStatus: string;
  sessions: number;
}

const PY_CLIENT = [
  'import socket,sys',
  's=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);s.sendall((sys.argv[2]+"\\n").encode())',
  'out=b""',
  'while True:',
  ' d=s.recv(65536)',
  ' if not d: break',
  ' out+=d',
  'sys.stdout.write(out.decode())',
].join('\n');

/** A shell snippet that sends one runtime command and prints the answer. */
export function runtimeScript(command: string, socket = DEFAULT_SOCKET): string {
  const cmd = shQuote(command);
  const sock = shQuote(socket);
  return [
    `if [ ! -S ${sock} ]; then echo "haproxy admin socket ${socket} not found (is haproxy running?)" >&2; exit 3; fi`,
    `if command -v socat >/dev/null 2>&1; then printf '%s\\n' ${cmd} | socat -t 5 stdio UNIX-CONNECT:${sock}`,
    `else python3 -c ${shQuote(PY_CLIENT)} ${sock} ${cmd}; fi`,
  ].join('\n');
}

export async function runtimeCommand(h: Remote, command: string, socket = DEFAULT_SOCKET): Promise<string> {
  const r = await h.exec(runtimeScript(command, socket), { timeoutMs: 15_000 });
  if (r.code !== 0) throw new TaskError(`haproxy runtime API "${command}" failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Rows of a CSV answer whose header line starts with "# ". */
export function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = lines.findIndex((l) => l.startsWith('# '));
  if (head < 0) return [];
  const cols = lines[head]!.slice(2).split(',');
  return lines.slice(head + 1).map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

/** srv_admin_state bits (haproxy's server.h): forced/inherited/config maint, forced/inherited drain, resolver maint. */
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;

export function adminFromBits(bits: number): AdminState {
  if (bits & ADMIN_MAINT) return 'maint';
  if (bits & ADMIN_DRAIN) return 'drain';
  return 'ready';
}

/** "show servers state" lines: a version line, a "# be_id be_name ..." header, then space-separated rows. */
export function parseServersState(text: string): Map<string, number> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = lines.findIndex((l) => l.startsWith('# '));
  const out = new Map<string, number>();
  if (head < 0) return out;
  const cols = lines[head]!.slice(2).trim().split(/\s+/);
  const be = cols.indexOf('be_name');
  const srv = cols.indexOf('srv_name');
  const admin = cols.indexOf('srv_admin_state');
  for (const l of lines.slice(head + 1)) {
    const cells = l.trim().split(/\s+/);
    out.set(`${cells[be]}/${cells[srv]}`, Number(cells[admin] ?? 0));
  }
  return out;
}

export function mergeStates(statCsv: string, serversState: string): ServerState[] {
  const admin = parseServersState(serversState);
  return parseCsv(statCsv)
    .filter((r) => r['svname'] !== 'FRONTEND' && r['svname'] !== 'BACKEND' && r['pxname'] !== 'stats')
    .map((r) => {
      const backend = r['pxname'] ?? '';
      const server = r['svname'] ?? '';
      const status = r['status'] ?? '';
      const bits = admin.get(`${backend}/${server}`) ?? 0;
      return {
        backend,
        server,
        address: r['addr'] ?? '',
        status,
        up: /^(UP|DRAIN|NOLB)/.test(status),
        admin: adminFromBits(bits),
        checkStatus: (r['check_status'] ?? '').replace(/^\* /, ''),
        sessions: Number(r['scur'] ?? 0) || 0,
      };
    });
}

/** Every server of every listen section, in one round trip. */
export async function serverStates(h: Remote, socket = DEFAULT_SOCKET): Promise<ServerState[]> {
  const marker = '@@RIGGER-SPLIT@@';
  const script = `${runtimeScript('show stat', socket)}\necho ${marker}\n${runtimeScript('show servers state', socket)}`;
  const r = await h.exec(script, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new TaskError(`reading haproxy server states failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  const [stat = '', state = ''] = r.stdout.split(`${marker}\n`);
  return mergeStates(stat, state);
}

/** Puts one server of one backend in a state. haproxy answers nothing on success. */
export async function setServerState(h: Remote, backend: string, server: string, state: AdminState, socket = DEFAULT_SOCKET): Promise<void> {
  if (!/^[A-Za-z0-9_.:-]+$/.test(backend) || !/^[A-Za-z0-9_.:-]+$/.test(server)) {
    throw new TaskError(`invalid haproxy backend/server name: ${backend}/${server}`);
  }
  const answer = (await runtimeCommand(h, `set server ${backend}/${server} state ${state}`, socket)).trim();
  if (answer !== '') throw new TaskError(`haproxy refused "set server ${backend}/${server} state ${state}": ${answer}`);
}

/** The same state for a server in every backend it appears in (both routes by default). */
export async function setServerStateEverywhere(h: Remote, server: string, state: AdminState, socket = DEFAULT_SOCKET): Promise<string[]> {
  const backends = [...new Set((await serverStates(h, socket)).filter((s) => s.server === server).map((s) => s.backend))];
  if (backends.length === 0) throw new TaskError(`haproxy has no server named ${server}`);
  for (const b of backends) await setServerState(h, b, server, state, socket);
  return backends;
}


/** The servers haproxy currently routes a listen section to (health up, admin ready). */
export function routedTo(states: ServerState[], backend: string): string[] {
  return states.filter((s) => s.backend === backend && s.up && s.admin === 'ready').map((s) => s.server);
}

/**
 * Waits until a drained server holds no client session in any backend (deadline in ms); the
 * error says how many sessions were left. For "drain, wait, then stop PostgreSQL".
 */
export async function waitNoSessions(h: Remote, server: string, timeoutMs: number, socket = DEFAULT_SOCKET, intervalMs = 1000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const mine = (await serverStates(h, socket)).filter((s) => s.server === server);
    if (mine.length === 0) throw new TaskError(`haproxy has no server named ${server}`);
    const left = mine.reduce((n, s) => n + s.sessions, 0);
    if (left === 0) return;
    if (Date.now() >= end) {
      throw new TaskError(`${server} still has ${left} session(s) after ${Math.round(timeoutMs / 1000)} s (${mine.map((s) => `${s.backend}: ${s.sessions}`).join(', ')})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
