/**
 * service: a systemd unit's mask, enablement and run state. The probe is one
 * `systemctl show`; apply does daemon-reload (when systemd asks for it), unmask/mask,
 * enable/disable and start/stop/restart/reload in one exec. A failed start carries the
 * unit's last journal lines.
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask, type ProbeOutput, type TaskContext } from '../engine/types.ts';
import { parseSpec, tailLines, namedTaskBase, type NamedOpCommon } from './common.ts';
import { parseKv } from './probe-kv.ts';

const ServiceSpec = z.object({
  name: z.string().regex(/^[A-Za-z0-9:_.@\\-]+$/, 'expected a systemd unit name'),
  enabled: z.boolean().optional(),
  state: z.enum(['started', 'stopped', 'restarted', 'reloaded']).optional(),
  masked: z.boolean().optional(),
});
/** `name` is the unit ("patroni" means patroni.service); the task name is `taskName`. */
export type ServiceOptions = NamedOpCommon & z.input<typeof ServiceSpec>;

export interface UnitState {
  load: string;
  active: string;
  unitFile: string;
  needReload: boolean;
}

/** Unit file states that count as enabled / that enable/disable cannot change. */
const ENABLED = new Set(['enabled', 'enabled-runtime', 'linked', 'linked-runtime', 'alias']);
const FIXED = new Set(['static', 'generated', 'transient', 'indirect']);
const RUNNING = new Set(['active', 'activating', 'reloading', 'refreshing']);

export function unitName(name: string): string {
  return /\.[a-z]+$/.test(name) ? name : `${name}.service`;
}

export function parseUnitState(probe: ProbeOutput, unit: string): UnitState {
  if (probe.stdout.includes('@@no-systemctl')) throw new TaskError(`service ${unit}: systemctl not found: this host does not run systemd`);
  const kv = parseKv(probe.stdout);
  const load = kv.get('LoadState');
  if (probe.code !== 0 || load === undefined) {
    throw new TaskError(`service ${unit}: systemctl show failed (exit ${probe.code}); is systemd running on this host?${probe.stdout.trim() ? `\n${tailLines(probe.stdout, 5)}` : ''}`);
  }
  return { load, active: kv.get('ActiveState') ?? '', unitFile: kv.get('UnitFileState') ?? '', needReload: kv.get('NeedDaemonReload') === 'yes' };
}

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
    probe: `command -v systemctl >/dev/null 2>&1 || { echo '@@no-systemctl'; exit 0; }\nsystemctl show -p LoadState,ActiveState,UnitFileState,NeedDaemonReload -- ${q}`,
    plan(probe, ctx): OpPlan {
      const cur = parseUnitState(probe, unit);
      const isMasked = cur.load === 'masked' || cur.unitFile === 'masked' || cur.unitFile === 'masked-runtime';
      if (cur.load === 'not-found' && spec.masked !== true) {
        const missing = `service ${unit}: unit not found (is its package installed?)`;
        // In check mode the package task before us only said it would install the unit.
        if (ctx.check && label) return { change: true, summary: `${label} (unit not installed yet)`, apply: async () => { throw new TaskError(missing); } };
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
      const running = RUNNING.has(cur.active);
      let starts = false;
      if (spec.state === 'started' && !running) {
        steps.push(startStep('start', unit));
        summary.push('start');
        starts = true;
      } else if (spec.state === 'stopped' && running) {
        steps.push(`systemctl stop -- ${q}`);
        summary.push('stop');
      } else if (spec.state === 'restarted') {
        steps.push(startStep('restart', unit));
        summary.push(running ? 'restart' : 'start (was not running)');
        starts = true;
      } else if (spec.state === 'reloaded') {
        // Reloading a stopped unit fails; starting it loads the current config anyway.
        steps.push(startStep(running ? 'reload' : 'start', unit));
        summary.push(running ? 'reload' : 'start (was not running)');
        starts = true;
      }
      if (steps.length === 0) return { change: false };
      return {
        change: true,
        summary: summary.join(', '),
        apply: (ctx) => applySteps(ctx, unit, steps, starts),
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

async function applySteps(ctx: TaskContext, unit: string, steps: string[], starts: boolean): Promise<void> {
  const r = await ctx.exec(['set -e', ...steps].join('\n'));
  if (r.code === 0) return;
  const [before, journal] = r.stderr.split('@@journal\n');
  const msg = `service ${unit}: systemctl failed (exit ${r.code})${before?.trim() ? `: ${tailLines(before, 5)}` : ''}`;
  throw new TaskError(starts && journal !== undefined ? `${msg}\n--- journalctl -u ${unit} (last 15 lines) ---\n${journal.trimEnd()}` : msg);
}
