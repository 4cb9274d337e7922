/** group: a local group (getent probe; groupadd/groupmod/groupdel). */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask } from '../engine/types.ts';
import { AccountName, parseSpec, namedTaskBase, type NamedOpCommon } from './common.ts';

const GroupSpec = z.object({
  name: AccountName,
  system: z.boolean().default(false),
  gid: z.number().int().nonnegative().optional(),
  state: z.enum(['present', 'absent']).default('present'),
});
/** `name` is the group; the task name is `taskName`. */
export type GroupOptions = NamedOpCommon & z.input<typeof GroupSpec>;

/** The group's gid, or null when it does not exist. */
export function parseGroup(stdout: string, name: string): { gid: number } | null {
  if (stdout.includes('@@absent')) return null;
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new TaskError(`group ${name}: could not read the group entry: ${stdout.trim() || 'no output'}`);
  return { gid: Number(line.split(':')[2]) };
}

export function group(o: GroupOptions): OpTask {
  const spec = parseSpec('group', GroupSpec, o);
  const q = shQuote(spec.name);

  return {
    kind: 'op',
    ...namedTaskBase(o, `group ${spec.name}${spec.state === 'absent' ? ' (absent)' : ''}`),
    probe: `getent group ${q} || echo '@@absent'`,
    plan(probe): OpPlan {
      const cur = parseGroup(probe.stdout, spec.name);
      if (spec.state === 'absent') {
        if (!cur) return { change: false };
        return { change: true, summary: 'remove', commands: [{ script: `groupdel ${q}`, what: `groupdel ${spec.name}` }] };
      }
      if (!cur) {
        const args = [...(spec.system ? ['--system'] : []), ...(spec.gid !== undefined ? ['--gid', String(spec.gid)] : [])];
        const what = [spec.system && 'system', spec.gid !== undefined && `gid ${spec.gid}`].filter(Boolean);
        return {
          change: true,
          summary: `create${what.length ? ` (${what.join(', ')})` : ''}`,
          commands: [{ script: `groupadd ${args.map(shQuote).join(' ')} ${q}`, what: `groupadd ${spec.name}` }],
        };
      }
      if (spec.gid !== undefined && spec.gid !== cur.gid) {
        return {
          change: true,
          summary: `gid ${cur.gid} -> ${spec.gid}`,
          commands: [{ script: `groupmod --gid ${spec.gid} ${q}`, what: `groupmod ${spec.name}` }],
        };
      }
      return { change: false };
    },
  };
}
