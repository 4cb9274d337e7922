/**
 * The local transport: the control machine itself, `sh -c` through child_process. Same
 * contract as the SSH one (stdin, timeout, become through `sudo -n` when not root).
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Host } from '../inventory/types.ts';
import { TransportError, type ExecOptions, type ExecResult, type Transport, type TransportStats } from './types.ts';
import { invocation, scriptHead, sudoRefusal, sudoRefusalMessage } from './command.ts';

export class LocalTransport implements Transport {
  readonly host: string;
  readonly stats: TransportStats = { execs: 0, bytesOut: 0, bytesIn: 0 };
  readonly #become: boolean;
  #closed = false;

  constructor(target: Host) {
    this.host = target.name;
    this.#become = target.connection.become;
  }

  async connect(): Promise<void> {
    this.#closed = false;
  }

  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.#closed) return Promise.reject(new TransportError('closed', this.host, 'transport closed'));
    const useSudo = (opts.become ?? this.#become) && process.getuid?.() !== 0;
    const inv = invocation(script, useSudo, opts.stdin, opts.timeoutMs);
    this.stats.execs++;
    this.stats.bytesOut += Buffer.byteLength(script) + (inv.stdin === undefined ? 0 : Buffer.byteLength(inv.stdin));

    return new Promise<ExecResult>((resolve, reject) => {
      // Own process group, so a timeout kills the script's children too.
      const child = spawn(inv.argv[0]!, inv.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (then: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        then();
      };
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => errOut.push(b));
      child.stdin.on('error', () => {}); // EPIPE when the script does not read its stdin
      child.on('error', (e) => finish(() => reject(new TransportError('unreachable', this.host, `cannot run ${inv.argv[0]}: ${e.message}`))));
      child.on('close', (code, signal) => {
        const stdoutBuf = Buffer.concat(out);
        const stderrBuf = Buffer.concat(errOut);
        this.stats.bytesIn += stdoutBuf.length + stderrBuf.length;
        const exit = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
        const result: ExecResult = { code: exit, stdout: stdoutBuf.toString('utf8'), stderr: stderrBuf.toString('utf8') };
        const refusal = useSudo ? sudoRefusal(result.code, result.stdout, result.stderr) : null;
        if (refusal) finish(() => reject(new TransportError('auth', this.host, sudoRefusalMessage(process.env.USER ?? 'this user', refusal))));
        else finish(() => resolve(result));
      });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          finish(() => reject(new TransportError('timeout', this.host, `command timed out after ${opts.timeoutMs} ms: ${scriptHead(script)}`)));
          try {
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL'); // the group is already gone, or sudo owns it
          }
        }, opts.timeoutMs);
      }
      if (inv.stdin === undefined) child.stdin.end();
      else child.stdin.end(inv.stdin);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
