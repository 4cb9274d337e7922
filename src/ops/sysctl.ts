/**
 * sysctl: a kernel parameter at run time (/proc/sys) and, by default, persisted in
 * /etc/sysctl.d/90-rigger.conf (one `key = value` line per key, replaced in place).
 * Values compare with whitespace normalised ("32768\t60999" equals "32768 60999").
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpPlan, type OpTask } from '../engine/types.ts';
import { parseSpec, taskBase, type OpCommon } from './common.ts';

export const SYSCTL_FILE = '/etc/sysctl.d/90-rigger.conf';

const SysctlSpec = z.object({
  key: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/, 'expected a sysctl key such as net.ipv4.ip_forward'),
  value: z.union([z.string(), z.number()]).transform((v) => normalise(String(v))).pipe(z.string().min(1, 'empty value').regex(/^[^\n=]*$/, 'value must be one line without "="')),
  persist: z.boolean().default(true),
});
export type SysctlOptions = OpCommon & z.input<typeof SysctlSpec>;

export function normalise(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

/** /proc/sys path of a key: dots separate levels unless the key is written with slashes. */
export function procPath(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
}

/** The value the persisted file gives `key` (last line wins, as sysctl reads it), or null. */
export function persistedValue(lines: string, key: string): string | null {
  let found: string | null = null;
  for (const line of lines.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0 || line.trim().startsWith('#')) continue;
    if (line.slice(0, eq).trim().replace(/^-/, '') === key) found = normalise(line.slice(eq + 1));
  }
  return found;
}

/** Replaces the key's line in place (or appends it); the line arrives on stdin. */
const PERSIST_SCRIPT = [
  `f=${shQuote(SYSCTL_FILE)}`,
  'mkdir -p /etc/sysctl.d',
  `t=$(mktemp /etc/sysctl.d/.90-rigger.conf.XXXXXX)`,
  `trap 'rm -f "$t"' EXIT`,
  'L=$(cat)',
  'export L',
  'if [ -f "$f" ]; then',
  `  awk 'BEGIN { l = ENVIRON["L"]; i = index(l, "="); k = substr(l, 1, i - 1); gsub(/[ \\t]+$/, "", k) }`,
  `    { j = index($0, "="); if (j > 0) { n = substr($0, 1, j - 1); gsub(/^[ \\t-]+|[ \\t]+$/, "", n); if (n == k) { if (!done) print l; done = 1; next } } print }`,
  `    END { if (!done) print l }' "$f" > "$t"`,
  `else printf '%s\\n' "$L" > "$t"; fi`,
  'chmod 0644 "$t"',
  'mv -f "$t" "$f"',
  'trap - EXIT',
].join('\n');

export function sysctl(o: SysctlOptions): OpTask {
  const spec = parseSpec('sysctl', SysctlSpec, o);
  const proc = procPath(spec.key);
  return {
    kind: 'op',
    ...taskBase(o, `sysctl ${spec.key} = ${spec.value}`),
    probe: [
      `if [ -r ${shQuote(proc)} ]; then printf 'current=%s\\n' "$(cat ${shQuote(proc)})"; else echo '@@missing'; fi`,
      ...(spec.persist ? [`echo '@@persisted'`, `grep -F -- ${shQuote(spec.key)} ${shQuote(SYSCTL_FILE)} 2>/dev/null`] : []),
      'true',
    ].join('\n'),
    plan(probe): OpPlan {
      if (probe.stdout.includes('@@missing')) throw new TaskError(`sysctl ${spec.key}: no such key on this host (${proc} does not exist)`);
      const [runtimePart = '', persistedPart = ''] = probe.stdout.split('@@persisted\n');
      // The value may span lines (rare): everything after "current=" up to the marker.
      const m = /current=([\s\S]*)$/.exec(runtimePart);
      if (!m) throw new TaskError(`sysctl ${spec.key}: could not read ${proc} (probe exit ${probe.code})`);
      const current = normalise(m[1]!);
      const setRuntime = current !== spec.value;
      const stored = spec.persist ? persistedValue(persistedPart, spec.key) : null;
      const setPersisted = spec.persist && stored !== spec.value;
      if (!setRuntime && !setPersisted) return { change: false };

      const summary = [
        setRuntime && `${spec.key} ${current} -> ${spec.value}`,
        setPersisted && (stored === null ? `persist in ${SYSCTL_FILE}` : `persisted ${stored} -> ${spec.value}`),
      ].filter(Boolean);
      const script = [
        'set -e',
        ...(setRuntime ? [`sysctl -q -w ${shQuote(`${spec.key}=${spec.value}`)}`] : []),
        ...(setPersisted ? [PERSIST_SCRIPT] : []),
      ].join('\n');
      return {
        change: true,
        summary: summary.join(', '),
        commands: [{ script, ...(setPersisted ? { stdin: `${spec.key} = ${spec.value}\n` } : {}), what: `sysctl ${spec.key}` }],
      };
    },
  };
}
