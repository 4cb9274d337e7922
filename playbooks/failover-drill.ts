/**
 * failover-drill: proves the cluster survives losing its leader. Kills Patroni and PostgreSQL
 * on the live leader (SIGKILL: no clean handover), waits for a replica to take over and for
 * writes through the virtual IP, then starts the old leader again and waits until it rejoins
 * as a replica. Prints how long each took. Writes fail for about ttl seconds: run it when
 * that is acceptable.
 *
 *   npx rigger run playbooks/failover-drill.ts -i inventories/prod
 */
import { definePlaybook } from '../src/engine/play.ts';
import { failoverDrillPlay } from './day2/planned-plays.ts';

export default definePlaybook('failover-drill', failoverDrillPlay());
