/**
 * The rigger command end to end against a real OpenSSH server on loopback, through an
 * Ansible INI inventory: facts, converge then no-op, handlers, failure policy, unreachable
 * and refused hosts, bad input refused before any connection, secrets never printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MEMBERS_FILE } from '../../src/engine/membership.ts';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const skip = sshdSkipReason();
const BIN = resolve('bin/rigger.js');
const PLAYBOOK = resolve('test/fixtures/playbooks/demo.ts');
const SECRET = 'Pw-' + Math.random().toString(36).slice(2) + '-zq9';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function rigger(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true', ...env }, timeout: 120_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? 99 : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe.skipIf(skip)(`rigger CLI over a loopback sshd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  let work: string;

  /** An Ansible inventory dir: hosts INI + group_vars/app.yml with the demo role's vars. */
  function inventory(name: string, lines: string[], vars: Record<string, string> = {}): string {
    const dir = join(work, name);
    mkdirSync(join(dir, 'group_vars'), { recursive: true });
    writeFileSync(join(dir, 'hosts'), ['[app]', ...lines, ''].join('\n'));
    writeFileSync(join(dir, 'group_vars', 'app.yml'), `demo:\n  password: { secret: { env: DEMO_PASSWORD } }\n`);
    for (const [host, body] of Object.entries(vars)) {
      mkdirSync(join(dir, 'host_vars'), { recursive: true });
      writeFileSync(join(dir, 'host_vars', `${host}.yml`), body);
    }
    return dir;
  }
  const hostLine = (name: string, extra = '') =>
    `${name} ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${sshd.user} ansible_ssh_private_key_file=${sshd.userKey} ansible_become=true ${extra}`;
  const dirVars = (d: string, extra = '') => `demo:\n  dir: ${d}\n${extra}`;

  beforeAll(async () => {
    sshd = await startSshd();
    work = mkdtempSync(join(tmpdir(), 'rigger-cli-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('facts --json over an Ansible INI inventory, host key checked', async () => {
    const inv = inventory('facts', [hostLine('h1')], { h1: dirVars(join(work, 'f1-target')) });
    const r = await rigger(['facts', '-i', inv, '--known-hosts', sshd.knownHosts, '--json'], { DEMO_PASSWORD: SECRET });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const facts = JSON.parse(r.stdout) as Record<string, { hostname: string; user: string; memoryMb: number }>;
    expect(facts.h1!.hostname).toBe(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
    expect(facts.h1!.memoryMb).toBeGreaterThan(0);
  });

  it('converges (changed > 0), then a second run reports changed = 0; handlers once, in order', async () => {
    const target = join(work, 'converge') + '-target';
    const inv = inventory('converge', [hostLine('h1')], { h1: dirVars(target) });
    const args = ['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '--json'];
    const first = await rigger(args, { DEMO_PASSWORD: SECRET });
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1.ok).toBe(true);
    expect(r1.hosts.h1.changed).toBeGreaterThan(0);
    expect(readFileSync(join(target, 'handlers.log'), 'utf8')).toBe('reload\nrestart\n');
    expect(readFileSync(join(target, 'db.conf'), 'utf8')).toBe(`user=app\npassword=${SECRET}\n`);

    const second = await rigger(args, { DEMO_PASSWORD: SECRET });
    expect(second.code, second.stderr).toBe(0);
    const r2 = JSON.parse(second.stdout);
    expect(r2.hosts.h1.changed).toBe(0);
    expect(r2.hosts.h1.failed).toBe(0);
    expect(readFileSync(join(target, 'handlers.log'), 'utf8')).toBe('reload\nrestart\n');
  });

  it('check mode with --diff reports the change, shows no secret, and changes nothing', async () => {
    const target = join(work, 'checkdiff') + '-target';
    const inv = inventory('checkdiff', [hostLine('h1')], { h1: dirVars(target) });
    await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts], { DEMO_PASSWORD: SECRET });
    const before = readFileSync(join(target, 'db.conf'), 'utf8');
    const NEW = SECRET + '-rotated';
    const events = join(work, 'events.jsonl');
    const r = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '--check', '--diff', '-v', '--events', events], { DEMO_PASSWORD: NEW });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/changed: \[h1\] demo \| file .*db\.conf/);
    // A file carrying a secret never shows its content, old or new.
    expect(r.stdout).toMatch(/content hidden/);
    expect(readFileSync(join(target, 'db.conf'), 'utf8')).toBe(before);
    for (const text of [r.stdout, r.stderr, readFileSync(events, 'utf8')]) {
      expect(text).not.toContain(SECRET);
    }
  });

  it('an unreachable host the cluster never had stops the run before any change (exit 4); once it is a known member, a failing host does not stop the others and the unreachable one is reported (exit 2)', async () => {
    const inv = inventory(
      'mixed',
      [hostLine('good'), hostLine('bad'), `gone ansible_host=127.0.0.1 ansible_port=1 ansible_user=${sshd.user} ansible_ssh_private_key_file=${sshd.userKey}`],
      { good: dirVars(join(work, 'good-target')), bad: dirVars(join(work, 'bad-target'), '  fail: true\n'), gone: dirVars(join(work, 'gone-target')) },
    );
    rmSync(MEMBERS_FILE, { force: true });
    const stopped = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '--json'], { DEMO_PASSWORD: SECRET });
    expect(stopped.code, stopped.stderr).toBe(4);
    expect(JSON.parse(stopped.stdout).hosts.gone.unreachable).toBe(true);
    expect(stopped.stdout + stopped.stderr).toMatch(/gone cannot be reached and is not yet a member of the cluster/);
    expect(existsSync(join(work, 'good-target'))).toBe(false);
    // As if gone had been converged before and is down now (every "host" here is this machine).
    mkdirSync(dirname(MEMBERS_FILE), { recursive: true });
    writeFileSync(MEMBERS_FILE, JSON.stringify({ hosts: ['bad', 'gone', 'good'] }));
    const r = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '--json'], { DEMO_PASSWORD: SECRET });
    expect(r.code).toBe(2);
    const recap = JSON.parse(r.stdout);
    expect(recap.hosts.good).toMatchObject({ failed: 0, unreachable: false });
    expect(recap.hosts.good.changed).toBeGreaterThan(0);
    expect(recap.hosts.bad.failed).toBe(1);
    expect(recap.hosts.gone.unreachable).toBe(true);
    expect(r.stderr).toMatch(/demo failure requested/);
    expect(existsSync(join(work, 'good-target', 'created'))).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('an unreachable host alone exits 4', async () => {
    const inv = inventory('gone', [`gone ansible_host=127.0.0.1 ansible_port=1 ansible_user=${sshd.user}`], { gone: dirVars(join(work, 'x-target')) });
    const r = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '--json'], { DEMO_PASSWORD: SECRET });
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout).hosts.gone.unreachable).toBe(true);
  });

  it('a wrong host key is refused and nothing runs', async () => {
    const other = join(work, 'other_known_hosts');
    const key = join(work, 'otherkey');
    await new Promise((d) => execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key], d));
    writeFileSync(other, `[127.0.0.1]:${sshd.port} ${readFileSync(key + '.pub', 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    const target = join(work, 'wrongkey') + '-target';
    const inv = inventory('wrongkey', [hostLine('h1')], { h1: dirVars(target) });
    const r = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', other], { DEMO_PASSWORD: SECRET });
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/UNREACHABLE: \[h1\].*(mismatch|changed|does not match)/i);
    expect(existsSync(target)).toBe(false);
  });

  it('bad input is refused before any connection, naming file, host and field (exit 1)', async () => {
    const logBefore = readFileSync(join(sshd.dir, 'sshd.log'), 'utf8').length;
    const target = join(work, 'badvars') + '-target';
    // Wrong type for a role var.
    const inv = inventory('badvars', [hostLine('h1')], { h1: `demo:\n  dir: ${target}\n  fail: maybe-not\n` });
    const r1 = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts], { DEMO_PASSWORD: SECRET });
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/host_vars\/h1\.yml: host h1: demo\.fail: .*boolean/);
    // A broken inventory line.
    const inv2 = inventory('badport', [hostLine('h1').replace(`ansible_port=${sshd.port}`, 'ansible_port=abc')], { h1: dirVars(target) });
    const r2 = await rigger(['run', PLAYBOOK, '-i', inv2, '--known-hosts', sshd.knownHosts], { DEMO_PASSWORD: SECRET });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/hosts.*h1.*port/);
    // A missing secret.
    const r3 = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/DEMO_PASSWORD/);
    // An unknown group in --limit.
    const r4 = await rigger(['run', PLAYBOOK, '-i', inv, '--known-hosts', sshd.knownHosts, '-l', 'nosuchgroup'], { DEMO_PASSWORD: SECRET });
    expect(r4.code).toBe(1);
    expect(r4.stderr).toMatch(/nosuchgroup/);
    expect(existsSync(target)).toBe(false);
    const newLog = readFileSync(join(sshd.dir, 'sshd.log'), 'utf8').slice(logBefore);
    expect(newLog).not.toMatch(/Connection from|Accepted/);
  });

  it('--list-hosts and --list-tasks answer without connecting; inventory shows no secret', async () => {
    const inv = inventory('list', [hostLine('h1')], { h1: dirVars(join(work, 'list-target')) });
    const hostsOut = await rigger(['run', PLAYBOOK, '-i', inv, '--list-hosts'], { DEMO_PASSWORD: SECRET });
    expect(hostsOut.stdout).toMatch(/play "demo" \(app\): h1/);
    const tasksOut = await rigger(['run', PLAYBOOK, '-i', inv, '--list-tasks'], { DEMO_PASSWORD: SECRET });
    expect(tasksOut.stdout).toMatch(/role demo/);
    expect(tasksOut.stdout).toMatch(/handlers: reload demo, restart demo/);
    for (const json of [false, true]) {
      const shown = await rigger(['inventory', '-i', inv, ...(json ? ['--json'] : [])], { DEMO_PASSWORD: SECRET });
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain('********');
      expect(shown.stdout).not.toContain(SECRET);
    }
  });
});
