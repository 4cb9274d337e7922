/**
 * A real OpenSSH server on 127.0.0.1 for the integration tests: its own host key, config,
 * authorized keys and port in a temp dir; a root key and a throwaway sudo user.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream, chmodSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, Host, Vars } from '../../src/inventory/types.ts';

const SSHD = '/usr/sbin/sshd';
const TEST_USER = 'rigger-test';

/** null when the tests can run; under CI=true always null, so a missing sshd fails loudly. */
export function sshdSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  if (process.getuid?.() !== 0) return 'needs root (to run sshd and create the test user)';
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  return null;
}

export interface TestSshd {
  port: number;
  /** known_hosts file holding this sshd's host key as [127.0.0.1]:PORT. */
  knownHosts: string;
  /** Private key path allowed to log in as root. */
  rootKey: string;
  /** A throwaway non-root user with passwordless sudo. */
  user: string;
  userKey: string;
  /** Temp dir of this sshd (config, keys, logs). */
  dir: string;
  /** A Host pointing at this sshd (root by default; the test user's key when user is the test user). */
  host(name: string, over?: Partial<Connection> & { vars?: Vars }): Host;
  stop(): Promise<void>;
}

function keygen(path: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'ignore' });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Creates the throwaway user if missing, unlocked for key login, with NOPASSWD sudo. */
function ensureTestUser(): void {
  try {
    execFileSync('id', ['-u', TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER], { stdio: 'pipe' });
  }
  // useradd leaves the password field '!' (locked); sshd without PAM refuses locked accounts.
  execFileSync('usermod', ['-p', '*', TEST_USER], { stdio: 'pipe' });
  const sudoers = '/etc/sudoers.d/rigger-test';
  const line = `${TEST_USER} ALL=(ALL) NOPASSWD:ALL\n`;
  if (!existsSync(sudoers) || readFileSync(sudoers, 'utf8') !== line) writeFileSync(sudoers, line, { mode: 0o440 });
  chmodSync(sudoers, 0o440);
}

export async function startSshd(): Promise<TestSshd> {
  const reason = sshdSkipReason();
  if (reason) throw new Error(`cannot start the test sshd: ${reason}`);
  ensureTestUser();
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(join(tmpdir(), 'rigger-sshd-'));
  chmodSync(dir, 0o755); // sshd reads the test user's authorized keys as that user
  const hostKey = join(dir, 'host_ed25519');
  const rootKey = join(dir, 'root_ed25519');
  const userKey = join(dir, 'user_ed25519');
  keygen(hostKey, 'rigger-test-sshd');
  keygen(rootKey, 'root@rigger-test');
  keygen(userKey, `${TEST_USER}@rigger-test`);
  const authDir = join(dir, 'authorized_keys');
  mkdirSync(authDir, { mode: 0o755 });
  writeFileSync(join(authDir, 'root'), readFileSync(`${rootKey}.pub`));
  writeFileSync(join(authDir, TEST_USER), readFileSync(`${userKey}.pub`));

  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${authDir}/%u`,
      'StrictModes no',
      'MaxSessions 10',
      'MaxStartups 50:30:100',
      'UseDNS no',
      `LogLevel ${process.env.RIGGER_TEST_SSHD_LOGLEVEL ?? 'VERBOSE'}`, // DEBUG3 when a test needs sshd's view (log: DIR/sshd.log)
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const knownHosts = join(dir, 'known_hosts');
  const [type, blob] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${type} ${blob}\n`);

  const log = createWriteStream(join(dir, 'sshd.log'));
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `sshd exited (${code ?? signal})`;
  });

  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const text = existsSync(join(dir, 'sshd.log')) ? readFileSync(join(dir, 'sshd.log'), 'utf8') : '';
      throw new Error(`test sshd did not start on 127.0.0.1:${port}: ${exited ?? 'no listener after 10 s'}\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    port,
    knownHosts,
    rootKey,
    user: TEST_USER,
    userKey,
    dir,
    host(name, over = {}) {
      const { vars, ...conn } = over;
      const user = conn.user ?? 'root';
      const connection: Connection = {
        address: '127.0.0.1',
        port,
        user,
        privateKey: user === TEST_USER ? userKey : rootKey,
        become: false,
        knownHosts,
        acceptNewHostKeys: false,
        insecureSkipHostKeyCheck: false,
        connectTimeoutMs: 5_000,
        transport: 'ssh',
        ...conn,
      };
      return { name, connection, groups: ['all'], vars: vars ?? {}, origins: {} };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      log.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
