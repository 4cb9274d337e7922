/**
 * waitFor: polls a TCP port, an HTTP URL or a command ON THE HOST, in one exec, until it
 * answers or the time is up. Read-only: it runs in check mode too. On timeout it fails
 * with one message naming what it waited for, how long, and the last state it saw.
 */
import { z } from 'zod';
import { TransportError, shQuote } from '../transport/types.ts';
import { TaskError, type RunOutcome, type RunTask, type TaskContext } from '../engine/types.ts';
import { commandHead, parseSpec, taskBase, tailLines, type OpCommon } from './common.ts';

const Target = z.union([
  z.object({ tcp: z.object({ host: z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or address'), port: z.number().int().min(1).max(65535) }) }),
  z.object({ http: z.object({ url: z.string().regex(/^https?:\/\/\S+$/, 'expected an http(s) URL'), status: z.number().int().min(100).max(599).optional() }) }),
  z.object({ command: z.string().trim().min(1, 'empty command') }),
]);
const Timing = z.object({
  timeoutMs: z.number().int().positive(),
  intervalMs: z.number().int().positive().default(1000),
  what: z.string().min(1).optional(),
});
const WaitForSpec = z.intersection(Target, Timing);
export type WaitForOptions = OpCommon & z.input<typeof WaitForSpec>;
type Spec = z.output<typeof WaitForSpec>;

/** Time we give the transport beyond the remote loop's own deadline. */
const EXEC_MARGIN_MS = 30_000;

const PY_TCP = `import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError as e:
    print(e)
    sys.exit(1)`;

const PY_HTTP = `import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=int(sys.argv[2])).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(getattr(e, "reason", e))`;

/** The body of the remote `check` function: exit 0 when ready, else print what it saw. */
export function checkBody(s: Spec): string {
  if ('tcp' in s) {
    const h = shQuote(s.tcp.host);
    const p = String(s.tcp.port);
    return [
      'if command -v nc >/dev/null 2>&1; then nc -z -v -w1 ' + `${h} ${p}`,
      `elif command -v python3 >/dev/null 2>&1; then python3 -c ${shQuote(PY_TCP)} ${h} ${p}`,
      `elif command -v bash >/dev/null 2>&1; then timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' ${h} ${p}`,
      `else echo '@@fatal no way to test a TCP port on this host (need nc, python3 or bash)'; return 1; fi`,
    ].join('\n');
  }
  if ('http' in s) {
    const u = shQuote(s.http.url);
    const ok = s.http.status !== undefined ? String(s.http.status) : '2[0-9][0-9]';
    return [
      'if command -v curl >/dev/null 2>&1; then',
      `  { code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$attempt" ${u} 2>&3); } 3>&1`,
      `elif command -v python3 >/dev/null 2>&1; then code=$(python3 -c ${shQuote(PY_HTTP)} ${u} "$attempt" 2>&1)`,
      `else echo '@@fatal no way to fetch a URL on this host (need curl or python3)'; return 1; fi`,
      `case "$code" in ${ok}) return 0 ;; 000|'') return 1 ;; [0-9][0-9][0-9]) echo "HTTP $code"; return 1 ;; *) echo "$code"; return 1 ;; esac`,
    ].join('\n');
  }
  return [
    `if command -v timeout >/dev/null 2>&1; then timeout "$attempt" sh -c ${shQuote(s.command)}; else sh -c ${shQuote(s.command)}; fi`,
    'rc=$?; [ "$rc" -eq 0 ] && return 0',
    'echo "(exit $rc)"; return 1',
  ].join('\n');
}

/** The whole remote loop. Prints `@@ok MS`, or `@@timeout MS` then the last state, or `@@fatal ...`. */
export function waitScript(s: Spec): string {
  const interval = String(s.intervalMs / 1000);
  return [
    `now_ms() { t=$(date +%s%N); case "$t" in *[!0-9]*|'') t=$(( $(date +%s) * 1000 )) ;; *) t=$(( t / 1000000 )) ;; esac; echo "$t"; }`,
    `check() {\n${checkBody(s)}\n}`,
    'start=$(now_ms)',
    `deadline=$(( start + ${s.timeoutMs} ))`,
    'while :; do',
    '  left=$(( deadline - $(now_ms) ))',
    // Each attempt may take at most the time left (at least 1 s, at most 10 s).
    '  attempt=$(( (left + 999) / 1000 )); [ "$attempt" -lt 1 ] && attempt=1; [ "$attempt" -gt 10 ] && attempt=10',
    '  last=$(check 2>&1 </dev/null) && { echo "@@ok $(( $(now_ms) - start ))"; exit 0; }',
    `  case "$last" in *@@fatal*) printf '%s\\n' "$last" | grep '@@fatal' | head -n 1; exit 0 ;; esac`,
    '  [ "$(now_ms)" -ge "$deadline" ] && break',
    `  sleep ${interval}`,
    'done',
    'echo "@@timeout $(( $(now_ms) - start ))"',
    `printf '%s\\n' "$last" | tail -n 5`,
  ].join('\n');
}

export function describeTarget(s: Spec): string {
  if (s.what) return s.what;
  if ('tcp' in s) return `tcp ${s.tcp.host}:${s.tcp.port}`;
  if ('http' in s) return `${s.http.url}${s.http.status !== undefined ? ` (status ${s.http.status})` : ''}`;
  return `command: ${commandHead(s.command)}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

export function waitFor(o: WaitForOptions): RunTask {
  const spec = parseSpec('waitFor', WaitForSpec, o);
  const what = describeTarget(spec);
  return {
    kind: 'run',
    ...taskBase(o, `wait for ${what}`),
    inCheckMode: 'run',
    run: (ctx) => poll(ctx, spec, what),
  };
}

async function poll(ctx: TaskContext, spec: Spec, what: string): Promise<RunOutcome> {
  let r;
  try {
    r = await ctx.exec(waitScript(spec), { timeoutMs: spec.timeoutMs + EXEC_MARGIN_MS });
  } catch (e) {
    if (e instanceof TransportError && e.kind === 'timeout') throw new TaskError(`timed out after ${seconds(spec.timeoutMs)} waiting for ${what}; last seen: the check itself did not return`);
    throw e;
  }
  const ok = /^@@ok (\d+)$/m.exec(r.stdout);
  if (ok) return { changed: false, message: `${what} ready after ${seconds(Number(ok[1]))}` };
  const fatal = /@@fatal (.*)$/m.exec(r.stdout);
  if (fatal) throw new TaskError(`cannot wait for ${what}: ${fatal[1]}`);
  const timeout = /^@@timeout (\d+)\n([\s\S]*)$/m.exec(r.stdout);
  if (timeout) {
    const last = tailLines(timeout[2]!, 5).trim().split('\n').join(' | ') || 'no output';
    throw new TaskError(`timed out after ${seconds(spec.timeoutMs)} waiting for ${what}; last seen: ${last}`);
  }
  throw new TaskError(`waiting for ${what} failed (exit ${r.code}): ${tailLines(r.stderr || r.stdout, 5) || 'no output'}`);
}
