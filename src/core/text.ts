/** Small text helpers for messages built from command output. */

/** The last `n` lines of some output (trailing blank lines dropped). */
export function tailLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** `{"<key>": [strings]}` as rigger writes its small state files on hosts; anything else reads as none. */
export function stringListIn(text: string, key: string): string[] {
  const t = text.trim();
  if (!t) return [];
  try {
    const v = JSON.parse(t) as Record<string, unknown>;
    const list = v[key];
    return Array.isArray(list) ? list.filter((h): h is string => typeof h === 'string') : [];
  } catch {
    return [];
  }
}
