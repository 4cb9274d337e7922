/**
 * service: a systemd unit's mask, enablement and run state. The probe is one
 * `systemctl show` (the unit-state fact, src/facts/unit-state.ts); the change is one command:
 * daemon-reload (when systemd asks for it), unmask/mask, enable/disable and
 * start/stop/restart/reload. A failed start carries the unit's last journal lines.
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask } from '../engine/types.ts';
import { isActive, parseUnitState, unitName, unitStateProbe } from '../facts/unit-state.ts';
import { parseSpec, namedTaskBase, type NamedOpCommon } from './common.ts';

export { parseUnitState, unitName, type UnitState } from '../facts/unit-state.ts';

const ServiceSpec = z.object({
  name: z.string().regex(/^[A-Za-z0-9:_.@\\-]+$/, 'expected a systemd unit name'),
  enabled: z.boolean().optional(),
  state: z.enum(['started', 'stopped', 'restarted', 'reloaded']).optional(),
  masked: z.boolean().optional(),
});
/** `name` is the unit ("patroni" means patroni.service); the task name is `taskName`. */
export type ServiceOptions = NamedOpCommon & z.input<typeof ServiceSpec>;

/** Unit file states that count as enabled / that enable/disable cannot change. */
const ENABLED = new Set(['enabled', 'enabled-runtime', 'linked', 'linked-runtime', 'alias']);
const FIXED = new Set(['static', 'generated', 'transient', 'indirect']);

export function service(o: ServiceOptions): OpTask {
  const spec = parseSpec('service', ServiceSpec, o);
  const unit = unitName(spec.name);
  const q = shQuote(unit);
  const label = [spec.masked === true ? 'masked' : spec.masked === false ? 'unmasked' : '', spec.state ?? '', spec.enabled === true ? 'enabled' : spec.enabled === false ? 'disabled' : '']
    .filter(Boolean)
    .join(', ');

  return {
    kind: 'op',
    ...namedTaskBase(o, `service ${spec.name}${label ? ` (${label})` : ''}`),
    probe: unitStateProbe(unit),
    plan(probe, ctx): OpPlan {
      const cur = parseUnitState(probe, unit);
      const isMasked = cur.load === 'masked' || cur.unitFile === 'masked' || cur.unitFile === 'masked-runtime';
      if (cur.load === 'not-found' && spec.masked !== true) {
        const missing = `service ${unit}: unit not found (is its package installed?)`;
        // In check mode the package task before us only said it would install the unit.
        // Only planned in check mode, where nothing runs: no commands.
        if (ctx.check && label) return { change: true, summary: `${label} (unit not installed yet)`, commands: [] };
        throw new TaskError(missing);
      }
      if (isMasked && spec.masked !== false && (spec.state === 'started' || spec.state === 'restarted' || spec.state === 'reloaded' || spec.enabled === true)) {
        throw new TaskError(`service ${unit} is masked: cannot be ${spec.state ?? 'enabled'} (set masked: false to unmask it)`);
      }

      const steps: string[] = [];
      const summary: string[] = [];
      if (cur.needReload) {
        steps.push('systemctl daemon-reload');
        summary.push('daemon-reload');
      }
      if (spec.masked === true && !isMasked) {
        steps.push(`systemctl mask -- ${q}`);
        summary.push('mask');
      } else if (spec.masked === false && isMasked) {
        steps.push(`systemctl unmask -- ${q}`);
        summary.push('unmask');
      }
      // After an unmask systemctl show told us nothing about enablement: decide from "disabled".
      const fileState = spec.masked === false && isMasked ? 'disabled' : cur.unitFile;
      if (spec.enabled === true && !ENABLED.has(fileState) && !FIXED.has(fileState)) {
        steps.push(`systemctl enable -- ${q}`);
        summary.push('enable');
      } else if (spec.enabled === false && ENABLED.has(fileState)) {
        steps.push(`systemctl disable -- ${q}`);
        summary.push('disable');
      }
      const running = isActive(cur);
      if (spec.state === 'started' && !running) {
        steps.push(startStep('start', unit));
        summary.push('start');
      } else if (spec.state === 'stopped' && running) {
        steps.push(`systemctl stop -- ${q}`);
        summary.push('stop');
      } else if (spec.state === 'restarted') {
        steps.push(startStep('restart', unit));
        summary.push(running ? 'restart' : 'start (was not running)');
      } else if (spec.state === 'reloaded') {
        // Reloading a stopped unit fails; starting it loads the current config anyway.
        steps.push(startStep(running ? 'reload' : 'start', unit));
        summary.push(running ? 'reload' : 'start (was not running)');
      }
      if (steps.length === 0) return { change: false };
      return {
        change: true,
        summary: summary.join(', '),
        // One exec; a failed start-like step prints the unit's journal after @@journal.
        commands: [{ script: ['set -e', ...steps].join('\n'), what: `service ${unit}: systemctl`, failure: { style: 'journal', unit } }],
      };
    },
  };
}

/** A start-like step that, on failure, appends the unit's journal tail to stderr. */
function startStep(verb: 'start' | 'restart' | 'reload', unit: string): string {
  const q = shQuote(unit);
  return [
    `systemctl ${verb} -- ${q} || {`,
    `  rc=$?; echo "@@journal" >&2`,
    `  journalctl -u ${q} -n 15 --no-pager >&2 2>&1 || true`,
    '  exit "$rc"',
    '}',
  ].join('\n');
}
