/**
 * The SSH transport against a real OpenSSH server on loopback: exec semantics, stdin,
 * UTF-8 across chunks, timeouts, become, concurrency on one connection, host keys, auth,
 * unreachable hosts and dropped connections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';
import { SshTransport } from '../../src/transport/ssh.ts';
import { TransportError } from '../../src/transport/types.ts';
import { fingerprint } from '../../src/transport/known-hosts.ts';

const skip = sshdSkipReason();

let sshd: TestSshd;
let scratch: string;
const opened: SshTransport[] = [];

function track(t: SshTransport): SshTransport {
  opened.push(t);
  return t;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TransportError) return e;
    throw e;
  }
  throw new Error('expected a TransportError, got success');
}

/** A free local port with nothing listening on it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function listen(srv: Server): Promise<number> {
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

function hostKeyBlob(): Buffer {
  const line = readFileSync(sshd.knownHosts, 'utf8').trim().split(/\s+/);
  return Buffer.from(line[2]!, 'base64');
}

function knownHostsFile(name: string, content: string): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

describe.skipIf(skip !== null)(`ssh transport against a loopback sshd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    sshd = await startSshd();
    scratch = mkdtempSync(join(tmpdir(), 'rigger-ssh-test-'));
  }, 60_000);
  afterAll(async () => {
    for (const t of opened) await t.close().catch(() => {});
    await sshd?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe('exec', () => {
    let t: SshTransport;
    beforeAll(async () => {
      t = track(new SshTransport(sshd.host('exec', { user: sshd.user })));
      await t.connect();
    });

    it('returns exit codes without rejecting, keeps stdout and stderr apart and untrimmed', async () => {
      expect(await t.exec('true')).toEqual({ code: 0, stdout: '', stderr: '' });
      expect((await t.exec('false')).code).toBe(1);
      expect(await t.exec("printf '  a \\n\\n'; printf 'oops\\n' >&2; exit 3")).toEqual({ code: 3, stdout: '  a \n\n', stderr: 'oops\n' });
      // POSIX sh, quoting survives: single quotes, $, backslashes, newlines
      expect((await t.exec(`x='it'"'"'s $HOME \\\\ "q"'; printf '%s\\n' "$x"`)).stdout).toBe(`it's $HOME \\\\ "q"\n`);
    });

    it('reports a signal death as 128 + signal number', async () => {
      expect((await t.exec('kill -9 $$')).code).toBe(137);
    });

    it('feeds stdin byte for byte (1 MiB of random bytes)', async () => {
      const payload = randomBytes(1024 * 1024);
      const r = await t.exec('wc -c', { stdin: payload });
      const h = await t.exec('sha256sum | cut -d" " -f1', { stdin: payload });
      expect(r.stdout.split('\n')[0]!.trim()).toBe(String(payload.length));
      expect(h.stdout.trim()).toBe(createHash('sha256').update(payload).digest('hex'));
      const text = 'été\nligne deux\n';
      expect((await t.exec('cat', { stdin: text })).stdout).toBe(text);
    });

    it('decodes a multi-byte UTF-8 character split across chunks', async () => {
      // the euro sign's three bytes in two writes, a pause between: two separate packets
      expect((await t.exec("printf '\\342\\202'; sleep 0.3; printf '\\254\\n'")).stdout).toBe('€\n');
      const n = 200_000; // 600 kB: windows of 32 KiB cannot all end on a character boundary
      const r = await t.exec(`i=0; s=''; while [ $i -lt 100 ]; do s="$s€"; i=$((i+1)); done; j=0; while [ $j -lt ${n / 100} ]; do printf '%s' "$s"; j=$((j+1)); done`);
      expect(r.stdout.length).toBe(n);
      expect(r.stdout).toBe('€'.repeat(n));
    });

    it('counts execs and bytes', async () => {
      const before = { ...t.stats };
      await t.exec('printf 12345', { stdin: 'abc' });
      expect(t.stats.execs).toBe(before.execs + 1);
      expect(t.stats.bytesIn).toBe(before.bytesIn + 5);
      expect(t.stats.bytesOut).toBeGreaterThanOrEqual(before.bytesOut + 3 + 'printf 12345'.length);
    });

    it('times out: rejects with timeout, kills the command on the host, keeps the connection', async () => {
      const e = await failure(t.exec('sleep 31337; echo never', { timeoutMs: 500 }));
      expect(e.kind).toBe('timeout');
      expect(e.message).toContain('sleep 31337');
      expect((await t.exec('echo still here')).stdout).toBe('still here\n');
      // the host-side deadline (a second later) kills it: poll until it is gone
      let left = 'x';
      for (let i = 0; i < 50 && left !== ''; i++) {
        left = (await t.exec("pgrep -f 'slee[p] 31337' || true")).stdout.trim();
        if (left) await new Promise((r) => setTimeout(r, 200));
      }
      expect(left).toBe('');
    });

    it('never loses the exit status of a command that ends at once (300 x `true`, 3 at a time)', async () => {
      // ssh2 can hand over the exec reply and the exit status in one batch: the status must
      // be caught when the channel opens, or it reads as 255.
      const codes: number[] = [];
      for (let i = 0; i < 100; i++) codes.push(...(await Promise.all([t.exec('true'), t.exec('true'), t.exec('exit 3')])).map((r) => r.code));
      expect(codes.filter((c, i) => c !== (i % 3 === 2 ? 3 : 0))).toEqual([]);
    });

    it('runs 20 concurrent execs on one connection (more than MaxSessions) and all succeed', async () => {
      const before = t.stats.execs;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(`sleep 0.2; echo ${i}`)));
      expect(results.map((r) => r.code)).toEqual(Array(20).fill(0));
      expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
      expect(t.stats.execs).toBe(before + 20);
    });

    it('adapts when the server allows fewer sessions than we assume', async () => {
      // 20 channels assumed, the server (MaxSessions 10) refuses some: they wait and retry
      const greedy = track(new SshTransport(sshd.host('greedy', { user: sshd.user }), { maxChannels: 20 }));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => greedy.exec(`sleep 0.3; echo ${i}`)));
      expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    });

    it('runs a script larger than a command line allows (through stdin)', async () => {
      const big = `x=0\n${'x=$((x+1))\n'.repeat(12_000)}echo $x`;
      expect(Buffer.byteLength(big)).toBeGreaterThan(128 * 1024);
      expect((await t.exec(big)).stdout).toBe('12000\n');
    });
  });

  describe('close', () => {
    // Packets to and from the server dropped (a partitioned host): the kernel never acks our
    // FIN, so only destroying the socket frees it; a kept socket kept the CLI alive for minutes.
    const canDrop = process.getuid?.() === 0 && spawnSync('iptables', ['-w', '5', '-S', 'OUTPUT'], { stdio: 'ignore' }).status === 0;
    it.skipIf(!canDrop && process.env.CI !== 'true')(`lets go of the socket of a peer that stopped answering${canDrop ? '' : ' (skipped: needs root and iptables)'}`, async () => {
      // Only this transport's socket: other tests' connections to the same sshd stay open.
      const held = () => execFileSync('ss', ['-tnpH', 'dport', '=', `:${sshd.port}`], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${process.pid},`));
      const others = new Set(held().map((l) => l.split(/\s+/)[3]));
      const t = track(new SshTransport(sshd.host('silent', { user: sshd.user })));
      expect((await t.exec('true')).code).toBe(0);
      const mine = held().map((l) => l.split(/\s+/)[3]).filter((a) => !others.has(a));
      expect(mine).toHaveLength(1);
      const rule = ['OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', String(sshd.port), '-j', 'DROP', '-m', 'comment', '--comment', 'rigger-test-silent-peer'];
      execFileSync('iptables', ['-w', '5', '-I', ...rule]);
      try {
        await t.close();
        expect(held().filter((l) => l.split(/\s+/)[3] === mine[0])).toEqual([]);
      } finally {
        execFileSync('iptables', ['-w', '5', '-D', ...rule]);
      }
    });
  });

  describe('become', () => {
    it('runs as root through sudo for a non-root user, and as the user without', async () => {
      const t = track(new SshTransport(sshd.host('become', { user: sshd.user, become: true })));
      expect((await t.exec('id -u')).stdout).toBe('0\n');
      expect((await t.exec('id -u', { become: false })).stdout).not.toBe('0\n');
      expect((await t.exec('cat', { stdin: 'through sudo\n' })).stdout).toBe('through sudo\n');
      const plain = track(new SshTransport(sshd.host('plain', { user: sshd.user, become: false })));
      expect((await plain.exec('id -un')).stdout).toBe(`${sshd.user}\n`);
      expect((await plain.exec('id -u', { become: true })).stdout).toBe('0\n');
    });

    it('a sudo that wants a password is a clear auth error, not a failed command', async () => {
      // a second throwaway user, without any sudoers entry
      const nosudo = 'rigger-nosudo';
      try {
        execFileSync('id', ['-u', nosudo], { stdio: 'ignore' });
      } catch {
        execFileSync('useradd', ['--shell', '/bin/sh', nosudo], { stdio: 'pipe' });
      }
      const t = new SshTransport(sshd.host('nosudo', { user: nosudo, privateKey: sshd.userKey, become: true }));
      try {
        execFileSync('usermod', ['-p', '*', nosudo], { stdio: 'pipe' });
        writeFileSync(join(sshd.dir, 'authorized_keys', nosudo), readFileSync(`${sshd.userKey}.pub`));
        const e = await failure(t.exec('id -u'));
        expect(e.kind).toBe('auth');
        expect(e.message).toContain('sudo -n refused for user rigger-nosudo');
        expect(e.message).toContain('NOPASSWD');
        expect((await t.exec('id -un', { become: false })).stdout).toBe(`${nosudo}\n`);
      } finally {
        await t.close();
        execFileSync('userdel', ['-f', nosudo], { stdio: 'ignore' });
      }
    });

    it('root needs no sudo', async () => {
      const t = track(new SshTransport(sshd.host('root', { become: true })));
      expect((await t.exec('id -u')).stdout).toBe('0\n');
    });
  });

  describe('host keys', () => {
    it('refuses an unknown host key, naming its fingerprint and the fix', async () => {
      const kh = knownHostsFile('empty', '');
      const e = await failure(new SshTransport(sshd.host('unknown', { knownHosts: kh })).connect());
      expect(e.kind).toBe('host-key-unknown');
      expect(e.message).toContain(fingerprint(hostKeyBlob()));
      expect(e.message).toContain('--accept-new-host-keys');
      expect(readFileSync(kh, 'utf8')).toBe('');
    });

    it('refuses a changed host key, even with acceptNewHostKeys, and leaves known_hosts alone', async () => {
      const other = join(scratch, 'otherkey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const [type, blob] = readFileSync(`${other}.pub`, 'utf8').split(/\s+/);
      const content = `[127.0.0.1]:${sshd.port} ${type} ${blob}\n`;
      const kh = knownHostsFile('changed', content);
      for (const acceptNewHostKeys of [false, true]) {
        const e = await failure(new SshTransport(sshd.host('changed', { knownHosts: kh, acceptNewHostKeys })).connect());
        expect(e.kind).toBe('host-key-mismatch');
        expect(e.message).toContain('HOST KEY CHANGED');
        expect(e.message).toContain(fingerprint(hostKeyBlob()));
        expect(e.message).toContain(fingerprint(Buffer.from(blob!, 'base64')));
      }
      expect(readFileSync(kh, 'utf8')).toBe(content);
    });

    it('acceptNewHostKeys records an unknown key, which is then known', async () => {
      const kh = join(scratch, 'sub', 'accept_known_hosts');
      const t = track(new SshTransport(sshd.host('newhost', { knownHosts: kh, acceptNewHostKeys: true })));
      await t.connect();
      const text = readFileSync(kh, 'utf8');
      expect(text).toContain(`[127.0.0.1]:${sshd.port},[newhost]:${sshd.port} ssh-ed25519 ${hostKeyBlob().toString('base64')}`);
      const again = track(new SshTransport(sshd.host('newhost', { knownHosts: kh })));
      await again.connect();
      expect((await again.exec('echo ok')).stdout).toBe('ok\n');
      expect(readFileSync(kh, 'utf8')).toBe(text); // nothing appended the second time
    });

    it('matches the inventory host name as well as the address', async () => {
      const kh = knownHostsFile('byname', `[pgname]:${sshd.port} ssh-ed25519 ${hostKeyBlob().toString('base64')}\n`);
      const t = track(new SshTransport(sshd.host('pgname', { knownHosts: kh })));
      await t.connect();
      const e = await failure(new SshTransport(sshd.host('othername', { knownHosts: kh })).connect());
      expect(e.kind).toBe('host-key-unknown');
    });

    it('insecureSkipHostKeyCheck connects without any known_hosts', async () => {
      const t = track(new SshTransport(sshd.host('insecure', { knownHosts: join(scratch, 'nope'), insecureSkipHostKeyCheck: true })));
      expect((await t.exec('echo ok')).stdout).toBe('ok\n');
    });
  });

  describe('connection failures', () => {
    it('a key the server does not accept is an auth error', async () => {
      const stranger = join(scratch, 'stranger');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
      const e = await failure(new SshTransport(sshd.host('auth', { privateKey: stranger })).connect());
      expect(e.kind).toBe('auth');
      expect(e.message).toContain('root@127.0.0.1');
      const missing = await failure(new SshTransport(sshd.host('auth2', { privateKey: join(scratch, 'no-such-key') })).connect());
      expect(missing.kind).toBe('auth');
    });

    it('a closed port is unreachable at once', async () => {
      const port = await closedPort();
      const e = await failure(new SshTransport(sshd.host('closed', { port, connectTimeoutMs: 60_000 })).connect());
      expect(e.kind).toBe('unreachable');
      expect(e.message).toContain('ECONNREFUSED');
    });

    it('a server that never speaks SSH is unreachable after the connect timeout', async () => {
      const silent = createServer(() => {});
      const port = await listen(silent);
      try {
        const e = await failure(new SshTransport(sshd.host('silent', { port, connectTimeoutMs: 500 })).connect());
        expect(e.kind).toBe('unreachable');
        expect(e.message).toContain('500 ms');
      } finally {
        silent.close();
      }
    });

    it('a dropped connection fails the running and later commands with closed, nothing uncaught', async () => {
      // a TCP relay in front of sshd that we can cut
      const links: Socket[] = [];
      const relay = createServer((client) => {
        const upstream = connect({ host: '127.0.0.1', port: sshd.port });
        links.push(client, upstream);
        client.pipe(upstream).pipe(client);
        client.on('error', () => {});
        upstream.on('error', () => {});
      });
      const port = await listen(relay);
      try {
        const kh = knownHostsFile('relay', `[127.0.0.1]:${port} ssh-ed25519 ${hostKeyBlob().toString('base64')}\n`);
        const t = new SshTransport(sshd.host('relay', { port, knownHosts: kh, user: sshd.user }));
        await t.connect();
        const running = t.exec('sleep 20');
        await new Promise((r) => setTimeout(r, 300));
        for (const s of links) s.destroy();
        const e = await failure(running);
        expect(e.kind).toBe('closed');
        expect((await failure(t.exec('true'))).kind).toBe('closed');
        await t.close(); // closing a dead transport is fine
      } finally {
        relay.close();
      }
    });

    it('close() then exec is a closed error', async () => {
      const t = new SshTransport(sshd.host('closing'));
      await t.connect();
      await t.close();
      expect((await failure(t.exec('true'))).kind).toBe('closed');
    });
  });
});
