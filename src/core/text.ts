/** Small text helpers for messages built from command output. */

/** The last `n` lines of some output (trailing blank lines dropped). */
export function tailLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
