/**
 * ProxyJump through the real CLI against two loopback sshds: a bastion and a target that is
 * reached through a TCP forward on the bastion's connection. Both host keys are checked: a
 * wrong bastion key is refused before the target is contacted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const BIN = resolve('bin/rigger.js');
const skip = sshdSkipReason();

function rigger(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true' }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    ),
  );
}

describe.skipIf(skip)(`ProxyJump over two loopback sshds${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let bastion: TestSshd;
  let target: TestSshd;
  let work: string;
  let knownHosts: string;
  const log = (s: TestSshd) => readFileSync(join(s.dir, 'sshd.log'), 'utf8');
  const settle = () => new Promise((d) => setTimeout(d, 200));

  beforeAll(async () => {
    bastion = await startSshd();
    target = await startSshd();
    // The same key logs in to both hops (as with an agent holding one key).
    appendFileSync(join(bastion.dir, 'authorized_keys', 'root'), readFileSync(`${target.rootKey}.pub`));
    work = mkdtempSync(join(tmpdir(), 'rigger-jump-'));
    knownHosts = join(work, 'known_hosts');
    writeFileSync(knownHosts, readFileSync(bastion.knownHosts, 'utf8') + readFileSync(target.knownHosts, 'utf8'));
    await settle();
  });
  afterAll(async () => {
    await bastion?.stop();
    await target?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function ansibleInventory(name: string, jump: string): string {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'hosts'),
      `[app]\nh1 ansible_host=127.0.0.1 ansible_port=${target.port} ansible_user=root ansible_ssh_private_key_file=${target.rootKey} ansible_ssh_common_args='-o ProxyJump=${jump}'\n`,
    );
    return dir;
  }

  it('an Ansible inventory with ansible_ssh_common_args ProxyJump: facts through the bastion', async () => {
    const before = log(bastion).length;
    const r = await rigger(['facts', '-i', ansibleInventory('ansible', `root@127.0.0.1:${bastion.port}`), '--known-hosts', knownHosts, '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).h1.memoryMb).toBeGreaterThan(0);
    await settle();
    expect(log(bastion).slice(before)).toMatch(/Accepted publickey for root/);
  });

  it('our inventory with proxyJump: a converge through the bastion', async () => {
    const dir = join(work, 'ours');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'hosts.yml'),
      `connection: { privateKey: ${target.rootKey}, knownHosts: ${knownHosts} }\n` +
        `hosts:\n  h1: { address: 127.0.0.1, port: ${target.port}, proxyJump: "127.0.0.1:${bastion.port}" }\n` +
        `groups:\n  app: { hosts: [h1] }\n` +
        `vars:\n  demo: { dir: ${join(work, 'ours-target')}, password: { secret: { value: jump-secret-1 } } }\n`,
    );
    const r = await rigger(['run', resolve('test/fixtures/playbooks/demo.ts'), '-i', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).hosts.h1.changed).toBeGreaterThan(0);
    expect(readFileSync(join(work, 'ours-target', 'app.conf'), 'utf8')).toBe('greeting=hello\n');
  });

  it('a wrong bastion host key is refused and the target is never contacted (exit 4)', async () => {
    const other = join(work, 'otherkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = join(work, 'wrong_known_hosts');
    const fake = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(wrong, `[127.0.0.1]:${bastion.port} ${fake}\n` + readFileSync(target.knownHosts, 'utf8'));
    const before = log(target).length;
    const r = await rigger(['facts', '-i', ansibleInventory('wrongbastion', `root@127.0.0.1:${bastion.port}`), '--known-hosts', wrong, '--json']);
    expect(r.code).toBe(4);
    const h1 = JSON.parse(r.stdout).h1;
    expect(h1.unreachable).toBe(true);
    expect(h1.error).toMatch(new RegExp(`jump host 127\\.0\\.0\\.1:${bastion.port}: HOST KEY CHANGED`));
    await settle();
    expect(log(target).slice(before)).not.toMatch(/Connection from/);
  });

  it('a wrong target host key behind a good bastion is refused (exit 4)', async () => {
    const other = join(work, 'otherkey2');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = join(work, 'wrong_target_known_hosts');
    const fake = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(wrong, readFileSync(bastion.knownHosts, 'utf8') + `[127.0.0.1]:${target.port} ${fake}\n`);
    const r = await rigger(['facts', '-i', ansibleInventory('wrongtarget', `root@127.0.0.1:${bastion.port}`), '--known-hosts', wrong, '--json']);
    expect(r.code).toBe(4);
    const h1 = JSON.parse(r.stdout).h1;
    expect(h1.error).toMatch(/HOST KEY CHANGED/);
    expect(h1.error).not.toMatch(/jump host/);
  });
});
