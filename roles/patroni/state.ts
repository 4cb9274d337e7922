/**
 * What the patroni role's steps tell each other during one run, per cluster scope (and per
 * host where it says so). Typed keys into the run's shared state.
 */
import { stateKeys, type Deferred } from '../../src/toolkit/index.ts';
import type { ClusterState } from './live.ts';

/** Hosts of the play that reached the start step. */
export const presentKey = stateKeys<Set<string>>('patroni:present');
/** Has Patroni ever initialized this cluster (asked of etcd once per run)? */
export const initializedKey = stateKeys<Promise<boolean>>('patroni:initialized');
/** A new cluster: the first member leads, the others start after it. */
export const leaderReadyKey = stateKeys<Deferred>('patroni:leader-ready');
/** (scope, host): Patroni was started on this host in this run (a reload is then pointless). */
export const startedKey = stateKeys<boolean>('patroni:started');
/** (scope, host): the state the gate just saw, for the DCS step (used once). */
export const seenKey = stateKeys<ClusterState>('patroni:seen');
/** (scope, host): the same state handed on to the restart step (used once). */
export const seenForRestartKey = stateKeys<ClusterState>('patroni:seen-for-restart');
/** Parameters the DCS step patched in this run. */
export const patchedKey = stateKeys<string[]>('patroni:patched-parameters');
