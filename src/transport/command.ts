/**
 * How a script becomes the one command line a transport runs: `sh -c '<script>'`, or
 * `sudo -n sh -c '<script>'` for become. Shared by the ssh and local transports.
 */
import { redact } from '../core/secret.ts';
import { shQuote } from './types.ts';

/**
 * Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN). Scripts larger than this
 * travel on stdin instead (`sh -s`), which is only possible when stdin is not already used.
 */
export const MAX_INLINE_SCRIPT = 96 * 1024;

export interface Invocation {
  /** argv for a local spawn. */
  argv: string[];
  /** The same as one POSIX sh command line, for an SSH exec request. */
  line: string;
  /** What goes to stdin (the caller's bytes, or the script itself for a large script). */
  stdin: string | Buffer | undefined;
}

/**
 * With a deadline, the script runs under `timeout -s KILL` on the host: it kills the script's
 * whole process group, which neither closing the channel nor an SSH signal request does (sshd
 * signals as the login user, so never the root processes under sudo). The host-side deadline
 * is a second later than ours, so the caller still sees its own timeout first.
 */
export function invocation(script: string, useSudo: boolean, stdin: string | Buffer | undefined, timeoutMs?: number): Invocation {
  const prefix = [...(useSudo ? ['sudo', '-n'] : []), ...(timeoutMs !== undefined ? ['timeout', '-s', 'KILL', String(Math.ceil(timeoutMs / 1000) + 1)] : [])];
  if (Buffer.byteLength(script) <= MAX_INLINE_SCRIPT) {
    const argv = [...prefix, 'sh', '-c', script];
    return { argv, line: [...prefix, 'sh', '-c', shQuote(script)].join(' '), stdin };
  }
  if (stdin !== undefined) {
    throw new Error(
      `script of ${Buffer.byteLength(script)} bytes is too large for a command line and stdin is already used; ` +
        'move the data into stdin or split the script',
    );
  }
  const argv = [...prefix, 'sh', '-s'];
  return { argv, line: argv.join(' '), stdin: script };
}

/**
 * When `sudo -n` itself refused (it wants a password, or the user may not sudo), its
 * complaint; null otherwise. Only meaningful for a become command that exited 1. sudo
 * refuses before the script starts, so its line is the last one: anything before it comes
 * from sshd or the login shell ("Could not chdir to home directory ...").
 */
export function sudoRefusal(code: number, stdout: string, stderr: string): string | null {
  if (code !== 1 || stdout !== '') return null;
  const last = stderr.trimEnd().split('\n').pop() ?? '';
  const refused =
    /^sudo: (a password is required|a terminal is required|sorry, you must have a tty)/.test(last) ||
    /^(sudo: )?\S+ is not (in the sudoers file|allowed to (run sudo|execute))/.test(last);
  return refused ? last : null;
}

export function sudoRefusalMessage(user: string, complaint: string): string {
  return (
    `become failed: sudo -n refused for user ${user} (${complaint}). ` +
    `Give ${user} passwordless sudo (e.g. "${user} ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/), or connect as root.`
  );
}

/** First line of a script, shortened and redacted, for timeout messages. */
export function scriptHead(script: string): string {
  const line = script.trim().split('\n')[0] ?? '';
  return redact(line.length > 100 ? `${line.slice(0, 100)}...` : line);
}
