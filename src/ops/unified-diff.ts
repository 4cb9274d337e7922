/**
 * Unified diff of a file's current and wanted content, in the `diff -u` layout:
 * `--- path (current)` / `+++ path (wanted)`, hunks with 3 lines of context.
 */
import { structuredPatch } from 'diff';

export function unifiedDiff(path: string, current: string, wanted: string): string {
  const patch = structuredPatch(path, path, current, wanted, '', '', { context: 3 });
  const out = [`--- ${path} (current)`, `+++ ${path} (wanted)`];
  for (const h of patch.hunks) {
    // diff(1) numbers an empty side as line 0.
    const range = (start: number, lines: number) => `${lines === 0 ? start - 1 : start},${lines}`;
    out.push(`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`, ...h.lines);
  }
  return `${out.join('\n')}\n`;
}

/** Text we can show line by line: valid UTF-8 and no NUL byte. */
export function isText(buf: Buffer): boolean {
  return !buf.includes(0) && Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);
}
