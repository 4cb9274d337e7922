/**
 * command: runs a shell command (changed when it runs). Guards are evaluated in the probe:
 * `creates`/`removes` are paths, `unless`/`onlyIf` are commands that must be read-only.
 * stdin may carry a Secret: it is revealed only into the exec's stdin.
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import type { OpPlan, OpTask } from '../engine/types.ts';
import { Secret } from '../core/secret.ts';
import { AbsolutePath, commandHead, parseSpec, taskBase, type OpCommon } from './common.ts';

const CommandSpec = z.object({
  cmd: z.string().trim().min(1, 'empty command'),
  creates: AbsolutePath.optional(),
  removes: AbsolutePath.optional(),
  unless: z.string().min(1).optional(),
  onlyIf: z.string().min(1).optional(),
  stdin: z.union([z.string(), z.instanceof(Secret)]).optional(),
  timeoutMs: z.number().int().positive().optional(),
});
export type CommandOptions = OpCommon & z.input<typeof CommandSpec>;

/** Probe lines that say why the command is not needed. */
const SKIP_REASONS: Record<string, (s: z.output<typeof CommandSpec>) => string> = {
  creates: (s) => `${s.creates} exists`,
  removes: (s) => `${s.removes} does not exist`,
  unless: () => '`unless` check succeeded',
  onlyif: () => '`onlyIf` check failed',
};

export function command(o: CommandOptions): OpTask {
  const spec = parseSpec('command', CommandSpec, o);
  const guards = [
    spec.creates && `[ -e ${shQuote(spec.creates)} ] && echo '@@skip creates'`,
    spec.removes && `[ -e ${shQuote(spec.removes)} ] || echo '@@skip removes'`,
    // sh -c keeps a guard's syntax error inside its own shell, away from the batched probe.
    spec.unless && `sh -c ${shQuote(spec.unless)} >/dev/null 2>&1 </dev/null && echo '@@skip unless'`,
    spec.onlyIf && `sh -c ${shQuote(spec.onlyIf)} >/dev/null 2>&1 </dev/null || echo '@@skip onlyif'`,
  ].filter((g): g is string => typeof g === 'string');
  const head = commandHead(spec.cmd);

  return {
    kind: 'op',
    ...taskBase(o, `command: ${head}`),
    probe: guards.length ? [...guards, 'true'].join('\n') : null,
    plan(probe): OpPlan {
      const skip = /^@@skip (\w+)$/m.exec(probe.stdout);
      if (skip) return { change: false, message: `not needed: ${SKIP_REASONS[skip[1]!]?.(spec) ?? skip[1]}` };
      const command = {
        script: spec.cmd,
        ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
        ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
        what: 'command',
        failure: { style: 'command', head: commandHead(spec.cmd, 120) },
      } as const;
      return { change: true, summary: `run: ${head}`, commands: [command] };
    },
  };
}
