/**
 * rigger_apt (src/ops/apt-lock.ts) run by a real sh on this machine, with lock files in a temp
 * dir held by a real process (a POSIX record lock, as apt and dpkg take them): it waits while a
 * lock is held and then runs, gives up after its bound naming the lock and its holder without
 * running anything, runs again after a lost lock race, and passes other failures through.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shQuote } from '../../src/transport/types.ts';
import { aptLockPrelude, APT_LOCKS } from '../../src/ops/apt-lock.ts';

let dir: string;
let locks: string[];
const holders: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rigger-apt-lock-'));
  locks = ['lock-frontend', 'lists-lock', 'archives-lock'].map((n) => join(dir, n));
  for (const l of locks) writeFileSync(l, '');
});
afterEach(() => {
  for (const h of holders.splice(0)) h.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A process holding a POSIX write lock on `path` for `seconds`; resolves once it holds it. */
async function hold(path: string, seconds: number): Promise<ChildProcess> {
  const py = `import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(float(sys.argv[2]))\n`;
  const child = spawn('python3', ['-c', py, path, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return child;
}

function sh(body: string, waitSeconds: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `set -e\n${aptLockPrelude({ locks, waitSeconds })}\n${body}`;
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('rigger_apt: every apt/dpkg lock waited for, bounded, the holder named', () => {
  it('covers dpkg frontend and database locks, the lists lock and the archives lock', () => {
    expect([...APT_LOCKS]).toEqual(['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock', '/var/cache/apt/archives/lock']);
    expect(spawnSync('sh', ['-n', '-c', aptLockPrelude()]).status, 'the prelude parses').toBe(0);
  });

  it('waits while the lists lock is held, then runs the command once', async () => {
    const holder = await hold(locks[1]!, 2);
    const r = await sh(`rigger_apt sh -c 'echo ran'`, 30);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('ran');
    expect(r.stderr).toMatch(new RegExp(`rigger: waiting for the apt/dpkg locks: ${locks[1]} held by process ${holder.pid} \\(\\S*python3 -c import fcntl`));
  });

  it('gives up after its bound, naming the lock and its holder, without running the command', async () => {
    const holder = await hold(locks[2]!, 60);
    const marker = join(dir, 'ran');
    const r = await sh(`rigger_apt touch ${shQuote(marker)}\necho after`, 2);
    expect(r.code).toBe(100);
    expect(r.stdout, 'set -e stops the script').not.toContain('after');
    expect(r.stderr).toMatch(new RegExp(`rigger: gave up after 2 s waiting for the apt/dpkg locks: ${locks[2]} held by process ${holder.pid} \\(\\S*python3 -c import fcntl`));
    expect(existsSync(marker)).toBe(false);
  });

  it('runs the command again when it lost a lock race (a lock taken between the wait and the run)', async () => {
    const count = join(dir, 'count');
    writeFileSync(count, '');
    // First call: apt's message for a lost race and exit 100; second: success.
    const fake = `echo x >> ${shQuote(count)}; if [ $(wc -l < ${shQuote(count)}) = 1 ]; then echo 'E: Could not get lock /var/lib/apt/lists/lock. It is held by process 136 (apt-get)' >&2; exit 100; fi; echo installed`;
    const r = await sh(`rigger_apt sh -c ${shQuote(fake)}`, 30);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('installed');
    expect(readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(r.stderr).toContain('rigger: waiting for the apt/dpkg locks: E: Could not get lock /var/lib/apt/lists/lock. It is held by process 136 (apt-get)');
  });

  it('passes any other failure through at once, with its exit status and message', async () => {
    const r = await sh(`rigger_apt sh -c "echo 'E: Unable to locate package nosuch' >&2; exit 100"`, 30);
    expect(r.code).toBe(100);
    expect(r.stderr).toContain('E: Unable to locate package nosuch');
    expect(r.stderr).not.toContain('rigger:');
  });
});
