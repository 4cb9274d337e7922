/**
 * Two people running rigger at once, through the CLI against a real OpenSSH server on
 * loopback: the run lock (src/engine/run-lock.ts). The playbook's one task waits for a "go"
 * file, so the test decides how long a run holds the lock; nothing here measures time. The
 * lock lives in a directory of this test (RIGGER_LOCK_DIR), not the machine's /var/lib/rigger.
 * Both inventory hosts are this machine: one lock file, which a run takes once and keeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const skip = sshdSkipReason();
const BIN = resolve('bin/rigger.js');
const WAIT = resolve('test/fixtures/playbooks/lock-wait.ts');
const READONLY = resolve('test/fixtures/playbooks/lock-readonly.ts');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  pid: number;
  done: Promise<Ran>;
  kill(sig: NodeJS.Signals): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)(`run lock over a loopback sshd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  let work: string;
  let n = 0;

  beforeAll(async () => {
    sshd = await startSshd();
    work = mkdtempSync(join(tmpdir(), 'rigger-lock-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A fresh case: its inventory (h1, h2: this machine), go file and lock directory. */
  function fresh() {
    const dir = join(work, `case${++n}`);
    mkdirSync(join(dir, 'inv', 'group_vars'), { recursive: true });
    const go = join(dir, 'go');
    const line = (h: string) =>
      `${h} ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${sshd.user} ansible_ssh_private_key_file=${sshd.userKey} ansible_become=true`;
    writeFileSync(join(dir, 'inv', 'hosts'), ['[app]', line('h1'), line('h2'), ''].join('\n'));
    writeFileSync(join(dir, 'inv', 'group_vars', 'app.yml'), `x_go: ${go}\n`);
    const lockDir = join(dir, 'lock');
    const start = (playbook: string, extra: string[] = [], env: Record<string, string> = {}): Running => {
      const child = spawn(process.execPath, [BIN, 'run', playbook, '-i', join(dir, 'inv'), '--known-hosts', sshd.knownHosts, '--json', ...extra], {
        env: { ...process.env, CI: 'true', RIGGER_LOCK_DIR: lockDir, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const done = new Promise<Ran>((res) => child.once('close', (code, signal) => res({ code, signal, stdout, stderr })));
      return { pid: child.pid!, done, kill: (sig) => child.kill(sig) };
    };
    /** Waits until the holding run's task has started (it appended a line to go.started). */
    const started = async (times = 1) => {
      for (let i = 0; i < 600; i++) {
        if (existsSync(`${go}.started`) && readFileSync(`${go}.started`, 'utf8').trim().split('\n').length >= times) return;
        await sleep(50);
      }
      throw new Error('the holding run never started its task');
    };
    const lockFile = join(lockDir, 'run.lock');
    return { start, started, go: () => writeFileSync(go, ''), ungo: () => rmSync(go, { force: true }), lockFile, dir };
  }

  const recap = (r: Ran) => JSON.parse(r.stdout) as { ok: boolean; aborted?: string; hosts: Record<string, { changed: number; warnings: string[] }> };
  const me = hostname();

  it('two runs started together: exactly one runs, the other stops naming the holder (exit 1)', async () => {
    const c = fresh();
    const a = c.start(WAIT);
    const b = c.start(WAIT);
    // The loser stops on its own; the winner waits for the go file.
    const first = await Promise.race([a.done.then((r) => ({ r, who: a, other: b })), b.done.then((r) => ({ r, who: b, other: a }))]);
    c.go();
    const second = await first.other.done;
    expect(first.r.code, first.r.stderr).toBe(1);
    expect(second.code, second.stderr).toBe(0);
    const lost = recap(first.r);
    expect(lost.aborted).toMatch(new RegExp(`run lock: h1 is locked by run [0-9a-f-]{36} \\(root@${me}, pid ${first.other.pid}, playbook lock-wait\\) since \\d{4}-\\d\\d-\\d\\dT`));
    expect(first.r.stderr).toMatch(/STOPPING: run lock: h1 is locked by/);
    expect(Object.values(lost.hosts).every((h) => h.changed === 0)).toBe(true);
    expect(recap(second).hosts.h1!.changed).toBe(1);
    // Only the winner ran its task (once per host); its lock is gone.
    expect(readFileSync(join(c.dir, 'go.started'), 'utf8').trim().split('\n').sort()).toEqual(['h1', 'h2']);
    expect(existsSync(c.lockFile)).toBe(false);
  });

  it('a SIGKILLed run leaves its lock: the next run is refused; with a short stale bound the one after takes it over, naming the dead run', async () => {
    const c = fresh();
    const a = c.start(WAIT);
    await c.started();
    a.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    expect(readFileSync(c.lockFile, 'utf8')).toContain(`pid=${a.pid}\n`);
    c.go(); // the killed run's task on the host ends; later runs pass through theirs
    const refused = await c.start(WAIT).done;
    expect(refused.code, refused.stderr).toBe(1);
    expect(recap(refused).aborted).toMatch(new RegExp(`h1 is locked by run .*pid ${a.pid}, playbook lock-wait.*last heartbeat \\d+ s ago.*--break-lock`));

    await sleep(2_500); // the dead run's last heartbeat is now over a second old
    const took = await c.start(WAIT, [], { RIGGER_LOCK_STALE_SECONDS: '1' }).done;
    expect(took.code, took.stderr).toBe(0);
    expect(took.stderr).toMatch(new RegExp(`WARNING: \\[h1\\] !!! run lock TAKEN OVER from run [0-9a-f-]{36} \\(root@${me}, pid ${a.pid}, playbook lock-wait\\).*older than 1 s`));
    expect(recap(took).hosts.h1!.warnings.join('\n')).toMatch(/TAKEN OVER/);
    expect(existsSync(c.lockFile)).toBe(false);
    expect(readFileSync(`${c.lockFile}.previous`, 'utf8')).toContain(`pid=${a.pid}\n`);
  });

  it('--break-lock takes a lock that is not stale yet, loudly', async () => {
    const c = fresh();
    const a = c.start(WAIT);
    await c.started();
    a.kill('SIGKILL');
    await a.done;
    c.go();
    const broke = await c.start(WAIT, ['--break-lock']).done;
    expect(broke.code, broke.stderr).toBe(0);
    expect(broke.stderr).toMatch(/!!! --break-lock/);
    expect(broke.stderr).toMatch(new RegExp(`run lock TAKEN OVER from run .*pid ${a.pid}.*--break-lock`));
  });

  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig} mid-run: the running task finishes, the lock is released, exit ${code}; the next run goes straight through`, async () => {
      const c = fresh();
      const a = c.start(WAIT);
      await c.started();
      a.kill(sig);
      await sleep(200); // let the signal land before the task can finish (not a measurement)
      c.go();
      const r = await a.done;
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(new RegExp(`${sig}: finishing the running tasks`));
      expect(existsSync(c.lockFile)).toBe(false);
      const next = await c.start(WAIT).done;
      expect(next.code, next.stderr).toBe(0);
      expect(next.stderr).not.toMatch(/TAKEN OVER/);
    });
  }

  it('--check and a read-only playbook run beside a held lock', async () => {
    const c = fresh();
    const a = c.start(WAIT);
    await c.started();
    const check = await c.start(WAIT, ['--check']).done;
    expect(check.code, check.stderr).toBe(0);
    const status = await c.start(READONLY).done;
    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toMatch(/\[h1\] uptime: /);
    expect(readFileSync(c.lockFile, 'utf8')).toContain(`pid=${a.pid}\n`); // still the holder's
    c.go();
    expect((await a.done).code).toBe(0);
    expect(existsSync(c.lockFile)).toBe(false);
  });
});
