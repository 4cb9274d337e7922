/**
 * directory: a directory's existence, mode and ownership (parents are created as needed,
 * with default mode; only the directory itself gets mode/owner/group).
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask } from '../engine/types.ts';
import { AbsolutePath, AccountName, ModeString, parseSpec, taskBase, type OpCommon } from './common.ts';
import { metadataChanges, metadataCommands, parsePathState, pathProbe, setMetadata } from './file.ts';

const DirectorySpec = z.object({
  path: AbsolutePath,
  mode: ModeString.optional(),
  owner: AccountName.optional(),
  group: AccountName.optional(),
  state: z.enum(['present', 'absent']).default('present'),
});
export type DirectoryOptions = OpCommon & z.input<typeof DirectorySpec>;

export function directory(o: DirectoryOptions): OpTask {
  const spec = parseSpec('directory', DirectorySpec, o);
  const path = spec.path.length > 1 ? spec.path.replace(/\/+$/, '') : spec.path;
  const q = shQuote(path);
  const meta = { mode: spec.mode, owner: spec.owner, group: spec.group };
  const absent = spec.state === 'absent';

  return {
    kind: 'op',
    ...taskBase(o, absent ? `directory ${path} (absent)` : `directory ${path}`),
    probe: pathProbe(path, false, true),
    plan(probe): OpPlan {
      const cur = parsePathState(probe, path);
      if (absent) {
        if (cur.type === 'absent') return { change: false };
        if (cur.type !== 'dir') throw new TaskError(`${path} is not a directory (${cur.type}); not removing it`);
        return { change: true, summary: 'remove (recursively)', commands: [{ script: `rm -rf -- ${q}`, what: `remove ${path}` }] };
      }
      if (cur.type === 'absent') {
        const what = [spec.mode && `mode ${spec.mode}`, spec.owner && `owner ${spec.owner}`, spec.group && `group ${spec.group}`].filter(Boolean);
        return {
          change: true,
          summary: `create${what.length ? ` (${what.join(', ')})` : ''}`,
          commands: [{ script: ['set -e', `mkdir -p -- ${q}`, ...metadataCommands(q, meta)].join('\n'), what: `create ${path}` }],
        };
      }
      if (cur.type !== 'dir') throw new TaskError(`${path} exists and is not a directory (${cur.type})`);
      const changes = metadataChanges(cur, meta);
      if (changes.length === 0) return { change: false };
      return {
        change: true,
        summary: changes.join(', '),
        commands: [setMetadata(path, q, meta)],
      };
    },
  };
}
