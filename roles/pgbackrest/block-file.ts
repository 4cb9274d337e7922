/**
 * An op that owns one marked block inside a file others may also write to (a user's
 * authorized_keys / known_hosts): the block's lines are decided at plan time (after the
 * hosts exchanged keys), everything outside the markers is kept byte for byte.
 */
import type { OpTask, TaskContext } from '../../src/engine/types.ts';
import { unifiedDiff } from '../../src/ops/unified-diff.ts';
import { shQuote } from '../../src/transport/types.ts';
import { BLOCK_BEGIN, BLOCK_END, withManagedBlock } from './render.ts';

export interface BlockFileSpec {
  name: string;
  path: string;
  owner: string;
  group: string;
  /** Octal, e.g. '0600'. */
  mode: string;
  /** The block's lines, given the lines the block holds now. */
  lines(ctx: TaskContext, current: string[]): string[];
}

const SEP = '@@RIGGER-BLOCK-CONTENT@@';

/** The lines between our markers in `text` (empty when there is no block). */
export function blockLines(text: string): string[] {
  const start = text.indexOf(BLOCK_BEGIN + '\n');
  if (start < 0) return [];
  const end = text.indexOf(BLOCK_END, start);
  if (end < 0) return [];
  return text
    .slice(start + BLOCK_BEGIN.length + 1, end)
    .split('\n')
    .filter((l) => l !== '');
}

export function blockFile(spec: BlockFileSpec): OpTask {
  const path = shQuote(spec.path);
  return {
    kind: 'op',
    name: spec.name,
    // stat line, then the content (public keys only: nothing secret is read here).
    probe: `if [ -f ${path} ]; then stat -c '%U:%G %a' ${path}; echo ${SEP}; cat ${path}; else echo missing; fi`,
    plan(probe, ctx) {
      const out = probe.stdout;
      const exists = !out.startsWith('missing');
      const sep = out.indexOf(`${SEP}\n`);
      const current = exists && sep >= 0 ? out.slice(sep + SEP.length + 1) : '';
      const [who = '', mode = ''] = exists ? out.slice(0, sep).trim().split(' ') : [];
      const wanted = withManagedBlock(current, spec.lines(ctx, blockLines(current)));
      const wantMode = parseInt(spec.mode, 8).toString(8);
      const changes: string[] = [];
      if (!exists) changes.push('create');
      else if (wanted !== current) changes.push('update block');
      if (exists && who !== `${spec.owner}:${spec.group}`) changes.push(`owner ${who} -> ${spec.owner}:${spec.group}`);
      if (exists && mode !== wantMode) changes.push(`mode ${mode} -> ${spec.mode}`);
      if (changes.length === 0) return { change: false };
      const tmp = shQuote(`${spec.path}.rigger-tmp`);
      return {
        change: true,
        summary: `${spec.path}: ${changes.join(', ')}`,
        ...(wanted !== current ? { diff: unifiedDiff(spec.path, current, wanted) } : {}),
        commands: [
          {
            script: ['umask 077', `cat > ${tmp}`, `chown ${shQuote(`${spec.owner}:${spec.group}`)} ${tmp}`, `chmod ${shQuote(spec.mode)} ${tmp}`, `mv -f ${tmp} ${path}`].join(' && '),
            stdin: wanted,
            what: `writing ${spec.path}`,
            failure: { style: 'inline', lines: 5 },
          },
        ],
      };
    },
  };
}
