/**
 * A systemd unit's state, as one shared fact: the probe script, its parser, and what counts
 * as running. Used by the service op and by roles that look at a unit themselves.
 */
import { shQuote } from '../transport/types.ts';
import type { ExecResult } from '../transport/types.ts';
import { TaskError } from '../core/errors.ts';
import { tailLines } from '../core/text.ts';

/** What a probe printed (the engine's ProbeOutput has this shape). */
type ProbeOutput = Pick<ExecResult, 'code' | 'stdout'>;
import { parseKv } from './probe-kv.ts';

export interface UnitState {
  load: string;
  active: string;
  unitFile: string;
  needReload: boolean;
}

/** Active states in which the unit counts as running. */
const RUNNING = new Set(['active', 'activating', 'reloading', 'refreshing']);

/** "patroni" means patroni.service; a name with a unit suffix stays as it is. */
export function unitName(name: string): string {
  return /\.[a-z]+$/.test(name) ? name : `${name}.service`;
}

/** Read-only sh printing the unit's state as key=value lines (or `@@no-systemctl`). */
export function unitStateProbe(unit: string): string {
  return `command -v systemctl >/dev/null 2>&1 || { echo '@@no-systemctl'; exit 0; }\nsystemctl show -p LoadState,ActiveState,UnitFileState,NeedDaemonReload -- ${shQuote(unit)}`;
}

/** Parses unitStateProbe's output; a host without systemd, or a failed show, is a TaskError. */
export function parseUnitState(probe: ProbeOutput, unit: string): UnitState {
  if (probe.stdout.includes('@@no-systemctl')) throw new TaskError(`service ${unit}: systemctl not found: this host does not run systemd`);
  const kv = parseKv(probe.stdout);
  const load = kv.get('LoadState');
  if (probe.code !== 0 || load === undefined) {
    throw new TaskError(`service ${unit}: systemctl show failed (exit ${probe.code}); is systemd running on this host?${probe.stdout.trim() ? `\n${tailLines(probe.stdout, 5)}` : ''}`);
  }
  return { load, active: kv.get('ActiveState') ?? '', unitFile: kv.get('UnitFileState') ?? '', needReload: kv.get('NeedDaemonReload') === 'yes' };
}

/** Running, or on its way there: active, activating, reloading, refreshing. */
export function isActive(state: Pick<UnitState, 'active'>): boolean {
  return RUNNING.has(state.active);
}
