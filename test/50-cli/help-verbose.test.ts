/**
 * Per-command --help, --version, and -vv (every probe and command printed, secrets masked)
 * through the real CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const BIN = resolve('bin/rigger.js');
const PLAYBOOK = resolve('test/fixtures/playbooks/demo.ts');
const SECRET = 'Pw-' + Math.random().toString(36).slice(2) + '-vv7';

function rigger(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    ),
  );
}

describe('help and version', () => {
  it.each([
    [['run', '--help'], 'Usage: rigger run PLAYBOOK.ts'],
    [['run', 'x.ts', '-i', 'nowhere', '-h'], 'Usage: rigger run PLAYBOOK.ts'],
    [['facts', '--help'], 'Usage: rigger facts'],
    [['inventory', '--help'], 'Usage: rigger inventory'],
    [['help', 'run'], 'Usage: rigger run'],
    [['--help'], 'rigger COMMAND --help'],
    [[], 'rigger COMMAND --help'],
  ])('rigger %j prints its usage, exit 0', async (args, words) => {
    const r = await rigger(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(words);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const r = await rigger(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`rigger ${pkg.version}`);
  });
});

const skip = sshdSkipReason();

describe.skipIf(skip)(`-v levels over a loopback sshd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  let work: string;
  let inv: string;
  beforeAll(async () => {
    sshd = await startSshd();
    work = mkdtempSync(join(tmpdir(), 'rigger-vv-'));
    inv = join(work, 'inv');
    mkdirSync(join(inv, 'group_vars'), { recursive: true });
    writeFileSync(
      join(inv, 'hosts'),
      `[app]\nh1 ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${sshd.user} ansible_ssh_private_key_file=${sshd.userKey} ansible_become=true\n`,
    );
    writeFileSync(join(inv, 'group_vars', 'app.yml'), `demo:\n  dir: ${join(work, 'target')}\n  password: { secret: { env: DEMO_PASSWORD } }\n`);
  });
  afterAll(async () => {
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('-v prints ok tasks but no commands; -vv and -vvv print every probe and command, never the secret', async () => {
    const base = ['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts];
    const first = await rigger(base, { DEMO_PASSWORD: SECRET });
    expect(first.code, first.stderr).toBe(0);
    const v = await rigger([...base, '-v'], { DEMO_PASSWORD: SECRET });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/ok: \[h1\]/);
    expect(v.stdout).not.toMatch(/exec #1/);
    for (const flag of ['-vv', '-vvv']) {
      const r = await rigger([...base, '--check', flag], { DEMO_PASSWORD: SECRET + '-new' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\[h1\] exec #1/);
      expect(r.stdout).toMatch(/\[h1\] exec #\d+: exit 0/);
      expect(r.stdout).toMatch(/ok: \[h1\]/);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    }
  });
});
