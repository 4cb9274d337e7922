/**
 * What other roles may use of the haproxy role (its declared exports): a database member taken
 * out of a balancer's read pool and put back, each drain recorded on the balancer before it is
 * made (src/engine/undo.ts) so that a run that dies leaves nothing the next run does not undo.
 */
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { clearUndo, recordUndo, varsOf, type Remote } from '../../src/toolkit/index.ts';
import { HaproxyVarsSchema } from './vars.ts';
import { runtimeScript, serverStates, setServerState, type AdminState } from './live.ts';

export { serverStates, setServerState, type AdminState };

/** A balancer's two routes as its haproxy vars name them. */
export interface Pools {
  socket: string;
  read: string;
  write: string;
}

export function poolsOf(host: Host, inv: Inventory): Pools {
  const v = varsOf({ name: 'haproxy', vars: HaproxyVarsSchema }, host, inv);
  return { socket: v.adminSocket, read: v.replicaName, write: v.primaryName };
}

/**
 * Sets a server's admin state in one backend; any state but ready is recorded on the balancer
 * first (with the command that sets it ready again), and the record goes once it is ready.
 */
export async function setPoolState(lb: Remote & { host: { name: string } }, socket: string, backend: string, server: string, state: AdminState): Promise<void> {
  const id = `haproxy:${backend}:${server}`;
  if (state !== 'ready') await recordUndo(lb, { id, what: `${server} in ${state.toUpperCase()} in ${backend} on ${lb.host.name}`, undo: runtimeScript(`set server ${backend}/${server} state ready`, socket) });
  await setServerState(lb, backend, server, state, socket);
  if (state === 'ready') await clearUndo(lb, id);
}

/** Sessions the server still holds in that backend. */
export async function sessionsIn(lb: Remote, socket: string, backend: string, server: string): Promise<number> {
  return (await serverStates(lb, socket)).filter((s) => s.backend === backend && s.server === server).reduce((n, s) => n + s.sessions, 0);
}
