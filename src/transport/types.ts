/**
 * A transport runs shell scripts on one host. The engine holds exactly one per host for
 * the whole run; every op, fact probe and handler goes through it.
 */
export interface ExecOptions {
  /** Bytes fed to the script's stdin. The only way file content (and secrets) reach a host. */
  stdin?: string | Buffer;
  /** Deadline for this one command; on expiry the channel is closed and exec rejects. */
  timeoutMs?: number;
  /** Override the host's become setting for this command (true: run as root through sudo). */
  become?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Something that can run a script on one host: a transport, a task's context, a play hook's
 * host, a delegate. Helpers that only run scripts take this.
 */
export interface Remote {
  /** Runs `script` with POSIX sh on the host. Never rejects on a non-zero exit; a lost connection rejects. */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
}

export interface Transport extends Remote {
  /** Inventory name of the host this transport reaches. */
  readonly host: string;
  /** Opens the connection; rejects with a TransportError (unreachable, host key, auth). */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Counters for the benchmark: round trips (execs) and payload bytes each way. */
  readonly stats: TransportStats;
}

export interface TransportStats {
  execs: number;
  bytesOut: number;
  bytesIn: number;
}

export type TransportErrorKind = 'unreachable' | 'host-key-unknown' | 'host-key-mismatch' | 'auth' | 'timeout' | 'closed';

/** Connection-level failure. The engine turns it into `unreachable` for the host. */
export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    readonly host: string,
    message: string,
  ) {
    super(`${host}: ${message}`);
    this.name = 'TransportError';
  }
}

/** POSIX single-quote a word for /bin/sh (dash): 'it'\''s'. Never use zx's bash-only $'..'. */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
