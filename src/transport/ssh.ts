/**
 * The SSH transport: one node-ssh (ssh2) connection per host for the whole run, commands as
 * channels on it. node-ssh opens and authenticates the connection; commands use the ssh2
 * client underneath directly, because node-ssh's exec trims output, decodes chunk by chunk
 * and has no timeout (see notes/pitfalls.md).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { constants as osConstants, homedir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client, ClientChannel, KexAlgorithm, ServerHostKeyAlgorithm, VerifyCallback } from 'ssh2';
import type { Host } from '../inventory/types.ts';
import type { JumpHost } from '../inventory/jump.ts';
import type { Duplex } from 'node:stream';
import { TransportError, type ExecOptions, type ExecResult, type Transport, type TransportStats } from './types.ts';
import { invocation, scriptHead, sudoRefusal, sudoRefusalMessage } from './command.ts';
import { Slots } from './slots.ts';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownHostsLines,
  knownKeyTypes,
  lookupNames,
  readKnownHosts,
  usesHashedNames,
} from './known-hosts.ts';

/** Cheap key exchanges only: ssh2's group-exchange DH costs 1-2 s of CPU per connection. */
export const KEX: KexAlgorithm[] = ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256'];

/** ssh2's host key algorithms, strongest first; reordered per host to ask for a known type. */
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** OpenSSH's MaxSessions defaults to 10; stay well below it and queue the rest. */
export const MAX_CHANNELS = 6;

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export interface SshTransportOptions {
  /** TCP_NODELAY on the socket (default true; false only to measure what it saves). */
  noDelay?: boolean;
  maxChannels?: number;
  /** SSH keepalive interval; a dead peer then surfaces as a 'closed' error (default 15 s). */
  keepaliveMs?: number;
}

interface InFlight {
  fail(e: TransportError): void;
}

export class SshTransport implements Transport {
  readonly host: string;
  readonly stats: TransportStats = { execs: 0, bytesOut: 0, bytesIn: 0 };
  readonly #target: Host;
  readonly #opts: SshTransportOptions;
  readonly #slots: Slots;
  readonly #inflight = new Set<InFlight>();
  #connecting: Promise<void> | null = null;
  #client: Client | null = null;
  /** Our TCP socket under the client (to the jump host, with one): close() destroys it itself (see there). */
  #sock: Socket | null = null;
  /** The jump host's connection, when the host is reached through one. */
  #jump: Client | null = null;
  #lastError: Error | null = null;
  /** Set once the connection is gone (dropped or closed by us); every later exec fails with it. */
  #gone: TransportError | null = null;
  #closing = false;

  constructor(target: Host, opts: SshTransportOptions = {}) {
    this.host = target.name;
    this.#target = target;
    this.#opts = opts;
    this.#slots = new Slots(opts.maxChannels ?? MAX_CHANNELS);
  }

  connect(): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (!this.#connecting) {
      this.#connecting = this.#open().catch((e: unknown) => {
        this.#connecting = null; // a later connect() may try again
        throw e;
      });
    }
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const c = this.#target.connection;
    const auth = await this.#authMethods();
    const names = lookupNames(c.port, c.address, this.host);
    const entries = c.insecureSkipHostKeyCheck ? [] : await readKnownHosts(c.knownHosts);
    const { sock, tcp } = c.proxyJump ? await this.#throughJump(c.proxyJump, auth, entries) : await this.#socket(c.address, c.port).then((t) => ({ sock: t, tcp: t }));

    const hostKey: { error: TransportError | null } = { error: null };
    const hostVerifier = this.#verifier(entries, names, c.address, c.port, hostKey);

    const ssh = new NodeSSH();
    const ready = ssh.connect({
      sock,
      username: c.user,
      authHandler: auth.methods,
      hostVerifier,
      algorithms: { kex: KEX, serverHostKey: preferKnownTypes(knownKeyTypes(entries, names)) },
      readyTimeout: c.connectTimeoutMs,
      keepaliveInterval: this.#opts.keepaliveMs ?? 15_000,
      keepaliveCountMax: 3,
    });
    // node-ssh creates the client synchronously and drops its own 'error' listener once ready:
    // ours must be there from the start or a later network error is an uncaught exception.
    const watched = ssh.connection;
    if (watched) this.#watch(watched);
    try {
      await ready;
    } catch (e) {
      tcp.destroy();
      this.#jump?.end();
      throw hostKey.error ?? this.#classify(e, auth.tried);
    }
    if (!ssh.connection || this.#gone) throw new TransportError('unreachable', this.host, `connection to ${c.address}:${c.port} closed right after login`);
    if (ssh.connection !== watched) this.#watch(ssh.connection, true);
    this.#client = ssh.connection;
    this.#sock = tcp;
  }

  /** Checks a presented host key against known_hosts for `names` (the target's, or its jump host's). */
  #verifier(entries: Awaited<ReturnType<typeof readKnownHosts>>, names: string[], address: string, port: number, out: { error: TransportError | null }, hop = '') {
    const c = this.#target.connection;
    return (key: Buffer, verify: VerifyCallback): void => {
      if (c.insecureSkipHostKeyCheck) return verify(true);
      const verdict = checkHostKey(entries, names, key);
      const fp = fingerprint(key);
      if (verdict.status === 'known') return verify(true);
      if (verdict.status === 'mismatch') {
        out.error = new TransportError('host-key-mismatch', this.host, hop + mismatchMessage(c.knownHosts, address, port, keyTypeOf(key), fp, verdict));
        return verify(false);
      }
      if (!c.acceptNewHostKeys) {
        out.error = new TransportError(
          'host-key-unknown',
          this.host,
          `${hop}unknown host key for ${address}:${port} (${keyTypeOf(key)} ${fp}), not in ${c.knownHosts}. ` +
            `Check the fingerprint, then add it to ${c.knownHosts} (ssh-keyscan -p ${port} ${address}) or run with --accept-new-host-keys.`,
        );
        return verify(false);
      }
      appendKnownHost(c.knownHosts, knownHostsLines(names, key, usesHashedNames(entries))).then(
        () => verify(true),
        (e: unknown) => {
          out.error = new TransportError('host-key-unknown', this.host, `${hop}cannot record the new host key ${fp} in ${c.knownHosts}: ${String(e)}`);
          verify(false);
        },
      );
    };
  }

  /**
   * ProxyJump: an SSH connection to the jump host (its host key checked against the same
   * known_hosts, the same key or agent logging in, as the jump's user or the target's), then
   * a TCP forward from it to the target, over which the target's SSH connection runs.
   */
  async #throughJump(jump: JumpHost, auth: { methods: AnyAuthMethod[]; tried: string }, entries: Awaited<ReturnType<typeof readKnownHosts>>): Promise<{ sock: Duplex; tcp: Socket }> {
    const c = this.#target.connection;
    const hop = `jump host ${jump.address}:${jump.port}: `;
    const user = jump.user ?? c.user;
    const tcp = await this.#socket(jump.address, jump.port, hop);
    const hostKey: { error: TransportError | null } = { error: null };
    const client = new ssh2.Client();
    this.#jump = client;
    client.on('error', () => {}); // reported through the connect promise below, or as the target's loss
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.connect({
          sock: tcp,
          username: user,
          authHandler: auth.methods.map((m) => ({ ...m, username: user })) as AnyAuthMethod[],
          hostVerifier: this.#verifier(entries, lookupNames(jump.port, jump.address), jump.address, jump.port, hostKey, hop),
          algorithms: { kex: KEX, serverHostKey: preferKnownTypes(knownKeyTypes(entries, lookupNames(jump.port, jump.address))) },
          readyTimeout: c.connectTimeoutMs,
          keepaliveInterval: this.#opts.keepaliveMs ?? 15_000,
          keepaliveCountMax: 3,
        });
      });
    } catch (e) {
      tcp.destroy();
      if (hostKey.error) throw hostKey.error;
      const t = this.#classify(e, auth.tried, jump.address, jump.port, user);
      throw new TransportError(t.kind, this.host, hop + t.message.replace(new RegExp(`^${this.host}: `), ''));
    }
    try {
      const sock = await new Promise<Duplex>((resolve, reject) =>
        client.forwardOut('127.0.0.1', 0, c.address, c.port, (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      return { sock, tcp };
    } catch (e) {
      tcp.destroy();
      throw new TransportError('unreachable', this.host, `${hop}cannot reach ${c.address}:${c.port} from it: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #watch(client: Client, alreadyReady = false): void {
    let wasReady = alreadyReady;
    client.once('ready', () => {
      wasReady = true;
    });
    client.on('error', (e: Error) => {
      this.#lastError = e;
    });
    client.on('close', () => {
      if (!wasReady) return; // a failed connect: connect() rejects, nothing else to clean up
      const why = this.#closing ? 'connection closed' : `connection lost${this.#lastError ? `: ${this.#lastError.message}` : ''}`;
      this.#gone ??= new TransportError('closed', this.host, why);
      for (const f of this.#inflight) f.fail(this.#gone);
      this.#inflight.clear();
      this.#slots.drain();
    });
  }

  /** TCP connect with our own deadline and TCP_NODELAY set before the first byte. */
  #socket(address: string, port: number, hop = ''): Promise<Socket> {
    const { connectTimeoutMs } = this.#target.connection;
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host: address, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new TransportError('unreachable', this.host, `${hop}no answer from ${address}:${port} within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setNoDelay(this.#opts.noDelay ?? true);
        resolve(sock);
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new TransportError('unreachable', this.host, `${hop}cannot reach ${address}:${port}: ${e.code ?? e.message}`));
      });
    });
  }

  /** The keys to offer, in order: the configured key, else the agent and the default keys. */
  async #authMethods(): Promise<{ methods: AnyAuthMethod[]; tried: string }> {
    const { user, privateKey } = this.#target.connection;
    const agent = process.env.SSH_AUTH_SOCK;
    if (privateKey !== undefined) {
      let text: Buffer;
      try {
        text = await readFile(privateKey);
      } catch (e) {
        throw new TransportError('auth', this.host, `cannot read private key ${privateKey}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      const parsed = ssh2.utils.parseKey(text);
      if (parsed instanceof Error) {
        if (agent && /passphrase/i.test(parsed.message)) {
          return { methods: [{ type: 'agent', username: user, agent }], tried: `the agent (${privateKey} is encrypted)` };
        }
        throw new TransportError('auth', this.host, `cannot use private key ${privateKey}: ${parsed.message}${/passphrase/i.test(parsed.message) ? ' (load it into ssh-agent)' : ''}`);
      }
      return { methods: [{ type: 'publickey', username: user, key: text }], tried: `key ${privateKey}` };
    }
    const methods: AnyAuthMethod[] = [];
    const tried: string[] = [];
    if (agent) {
      methods.push({ type: 'agent', username: user, agent });
      tried.push('the agent');
    }
    for (const name of DEFAULT_KEYS) {
      const path = join(homedir(), '.ssh', name);
      if (!existsSync(path)) continue;
      const text = await readFile(path).catch(() => null);
      if (text === null || ssh2.utils.parseKey(text) instanceof Error) continue;
      methods.push({ type: 'publickey', username: user, key: text });
      tried.push(path);
    }
    if (methods.length === 0) {
      throw new TransportError('auth', this.host, 'no key to log in with: set connection.privateKey, start an ssh-agent, or create ~/.ssh/id_ed25519');
    }
    return { methods, tried: tried.join(', ') };
  }

  #classify(e: unknown, tried: string, ...hop: [address: string, port: number, user: string] | []): TransportError {
    if (e instanceof TransportError) return e;
    const { connectTimeoutMs } = this.#target.connection;
    const [address, port, user] = hop.length ? hop : [this.#target.connection.address, this.#target.connection.port, this.#target.connection.user];
    const err = e instanceof Error ? e : new Error(String(e));
    const level = (err as Error & { level?: string }).level;
    if (level === 'client-authentication' || level === 'agent') {
      return new TransportError('auth', this.host, `authentication refused for ${user}@${address}:${port} (tried ${tried})`);
    }
    if (level === 'client-timeout') {
      return new TransportError('unreachable', this.host, `no SSH handshake from ${address}:${port} within ${connectTimeoutMs} ms`);
    }
    const where = `${address}:${port}`;
    if (level === 'handshake' || level === 'protocol') {
      return new TransportError('unreachable', this.host, `SSH handshake with ${where} failed: ${err.message}`);
    }
    return new TransportError('unreachable', this.host, `SSH connection to ${where} failed: ${err.message}`);
  }

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.#client) await this.connect();
    const c = this.#target.connection;
    const useSudo = (opts.become ?? c.become) && c.user !== 'root';
    const inv = invocation(script, useSudo, opts.stdin, opts.timeoutMs);
    if (this.#gone) throw this.#gone;
    this.stats.execs++;
    this.stats.bytesOut += Buffer.byteLength(inv.line) + (inv.stdin === undefined ? 0 : Buffer.byteLength(inv.stdin));

    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | null = null;
      let timer: NodeJS.Timeout | undefined;
      const entry: InFlight = { fail: (err) => finish(() => reject(err)) };
      const finish = (then: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#inflight.delete(entry);
        then();
      };
      this.#inflight.add(entry);

      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          finish(() => reject(new TransportError('timeout', this.host, `command timed out after ${opts.timeoutMs} ms: ${scriptHead(script)}`)));
          // The host-side `timeout` (see invocation) kills the script; the close frees the slot.
          channel?.close();
        }, opts.timeoutMs);
      }

      this.#openChannel(inv.line, () => settled).then(
        ({ ch, release, exit }) => {
          ch.once('close', release);
          if (settled) {
            ch.close(); // timed out (or the connection failed) while the channel was opening
            return;
          }
          channel = ch;
          const out: Buffer[] = [];
          const errOut: Buffer[] = [];
          ch.on('data', (b: Buffer) => out.push(b));
          ch.stderr.on('data', (b: Buffer) => errOut.push(b));
          ch.on('error', () => {}); // a write after the remote closed: the exit status tells the story
          ch.on('close', () => {
            const code = exitCode(exit);
            const stdoutBuf = Buffer.concat(out);
            const stderrBuf = Buffer.concat(errOut);
            this.stats.bytesIn += stdoutBuf.length + stderrBuf.length;
            const result: ExecResult = { code, stdout: stdoutBuf.toString('utf8'), stderr: stderrBuf.toString('utf8') };
            const refusal = useSudo ? sudoRefusal(result.code, result.stdout, result.stderr) : null;
            if (refusal) finish(() => reject(new TransportError('auth', this.host, sudoRefusalMessage(c.user, refusal))));
            else finish(() => resolve(result));
          });
          if (inv.stdin === undefined) ch.end();
          else ch.end(inv.stdin);
        },
        (e: TransportError) => finish(() => reject(e)),
      );
    });
  }

  /**
   * Opens a channel running `line` within the slot limit. A server allowing fewer sessions
   * than we assumed (MaxSessions below our limit, as hardening guides suggest) refuses the
   * channel: then use one slot fewer and wait for a running command, rather than fail.
   */
  async #openChannel(line: string, cancelled: () => boolean): Promise<{ ch: ClientChannel; release: () => void; exit: ExitStatus }> {
    for (;;) {
      const release = await this.#slots.acquire();
      const client = this.#client;
      if (this.#gone || !client || cancelled()) {
        release();
        throw this.#gone ?? new TransportError('closed', this.host, 'not connected');
      }
      try {
        const { ch, exit } = await new Promise<{ ch: ClientChannel; exit: ExitStatus }>((resolve, reject) => {
          try {
            client.exec(line, (err, ch) => {
              if (err) return reject(err);
              // Now, not after the promise settles: a fast command's exit status can arrive in
              // the same packet batch as the exec reply, and ssh2 emits it at once (seen: `true`
              // reported as 255, about one exec in thirty, on the lab).
              const exit: ExitStatus = {};
              ch.once('exit', (code: number | null, signal?: string) => {
                exit.code = code;
                if (signal !== undefined) exit.signal = signal;
              });
              resolve({ ch, exit });
            });
          } catch (e) {
            reject(e); // ssh2 throws when the socket is no longer writable
          }
        });
        return { ch, release, exit };
      } catch (e) {
        const othersRunning = this.#slots.inUse > 1;
        release();
        const message = e instanceof Error ? e.message : String(e);
        if (/open failed/i.test(message) && othersRunning && !this.#gone) {
          this.#slots.shrink();
          continue;
        }
        throw this.#gone ?? new TransportError('closed', this.host, `cannot open a channel: ${message}`);
      }
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#closing = true;
    if (!client || this.#gone) {
      this.#gone ??= new TransportError('closed', this.host, 'connection closed');
      this.#sock?.destroy();
      this.#jump?.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // Not client.destroy(): after end() the socket is no longer writable and ssh2's destroy
        // does nothing, so a peer that stopped answering (partitioned) kept the socket, and the
        // process alive, until TCP gave up minutes later (seen on the lab).
        this.#sock?.destroy();
        resolve();
      }, 2_000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
    this.#jump?.end();
    this.#gone ??= new TransportError('closed', this.host, 'connection closed');
  }
}

interface ExitStatus {
  code?: number | null;
  signal?: string;
}

/** The command's exit code; killed by a signal: 128 + its number; no status at all: 255, as the OpenSSH client says. */
function exitCode(e: ExitStatus): number {
  if (e.code !== null && e.code !== undefined) return e.code;
  if (e.signal) return 128 + (osConstants.signals[e.signal as keyof typeof osConstants.signals] ?? 0);
  return 255;
}

/** Host key algorithms with the types known_hosts holds for this host first, as OpenSSH does. */
function preferKnownTypes(known: string[]): ServerHostKeyAlgorithm[] {
  const first = HOST_KEY_ALGORITHMS.filter((a) => known.includes(a) || (a.startsWith('rsa-sha2-') && known.includes('ssh-rsa')));
  return [...first, ...HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

function mismatchMessage(
  file: string,
  address: string,
  port: number,
  type: string,
  fp: string,
  verdict: { revoked: boolean; expected: { line: number; keyType: string; fingerprint: string }[] },
): string {
  const where = `${address}:${port}`;
  if (verdict.revoked) return `HOST KEY REVOKED: ${where} presented ${type} ${fp}, which ${file} marks @revoked. Refusing to connect.`;
  const known = verdict.expected.map((e) => `${file}:${e.line} ${e.keyType} ${e.fingerprint}`).join('; ');
  return (
    `HOST KEY CHANGED for ${where}: it presented ${type} ${fp} but ${known}. ` +
    'Someone may be intercepting the connection, or the host was reinstalled. Refusing to connect; ' +
    'if the change is expected, remove the old line from known_hosts after checking the new fingerprint.'
  );
}
