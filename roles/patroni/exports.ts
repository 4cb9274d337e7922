/**
 * What other roles may use of the patroni role (its declared exports): the live cluster as
 * Patroni's REST API reports it, and a member's REST API port from its validated vars.
 */
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { varsOf } from '../../src/toolkit/index.ts';
import { PatroniVarsSchema } from './vars.ts';

export { clusterState, findLeader, leaderOf, parseCluster, type ClusterState, type Member } from './live.ts';

/** Patroni's REST API port on a host (the patroni role's var, validated). */
export function restApiPortOf(host: Host, inv: Inventory): number {
  return varsOf({ name: 'patroni', vars: PatroniVarsSchema }, host, inv).restapi.port;
}
