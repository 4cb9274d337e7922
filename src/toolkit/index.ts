/**
 * The toolkit roles and day-2 steps are written with (see README.md beside this file).
 * A role imports `src/` and its own folder; another role only through that role's declared
 * exports (its `exports.ts`); playbooks import roles and `src/`.
 */
export type { Remote } from './remote.ts';
export { waitUntil, journalTail, type Poll } from './wait.ts';
export { settleInside } from './settle.ts';
export { hostPort, httpUrl } from './address.ts';
export { hostsOf, hostNamesOf, departingHosts, varsOf, varsOnly, type GroupNeed, type VarsSource } from './inventory.ts';
export { stepsFor, type StepDefinition } from './step.ts';
export { RunState, stateKey, stateKeys, type StateKey, type Deferred } from '../engine/run-state.ts';
export { TaskError } from '../core/errors.ts';
export { recordUndo, clearUndo, temporarily, UNDO_DIR } from '../engine/undo.ts';
