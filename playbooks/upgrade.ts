/**
 * upgrade: a rolling upgrade (or restart) of the cluster with the leader last and no lost
 * writes. Pre-checks first on every host — nothing changes anywhere when one fails. Then, one
 * host at a time with a gate after each: the etcd members (the etcd leader last, quorum
 * healthy between), the database members (async replicas, the synchronous standby, then a
 * switchover to a healthy synchronous standby and the old leader last), the balancers (the
 * virtual IP's holder last, the address held by another meanwhile).
 *
 * What gets upgraded is `rollout.packages` (default `stack`: PostgreSQL, libpq, Patroni; etcd;
 * HAProxy, keepalived); hosts also restart what runs code replaced on disk, and database
 * members what Patroni reports as pending_restart. A second run on an upgraded cluster changes
 * and restarts nothing.
 *
 *   npx rigger run playbooks/upgrade.ts -i inventories/prod [--check]
 */
import { definePlaybook, sequence } from '../src/engine/play.ts';
import { balancerPlays } from './day2/balancer-plays.ts';
import { databasePlays } from './day2/database-plays.ts';
import { etcdPlays } from './day2/etcd-plays.ts';

const db = databasePlays();
const dcs = etcdPlays();
const lbs = balancerPlays();

export default definePlaybook('upgrade', sequence(db.checks, dcs.checks, lbs.checks, dcs.roll, db.roll, lbs.roll));
