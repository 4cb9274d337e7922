/**
 * switchover: a planned switchover from the live leader to a healthy synchronous standby
 * (`rollout.candidate` to name one), the write route moved on every balancer at the moment
 * of promotion, done when a write through the virtual IP lands on the new leader.
 *
 *   npx rigger run playbooks/switchover.ts -i inventories/prod [--check]
 */
import { definePlaybook } from '../src/engine/play.ts';
import { switchoverPlay } from './day2/planned-plays.ts';

export default definePlaybook('switchover', switchoverPlay());
