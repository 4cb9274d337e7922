/** Facts: the probe's output parsed (fixtures), and the real probe over the loopback sshd. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { FACTS_SCRIPT, gatherFacts, parseFacts } from '../../src/facts/gather.ts';
import { SshTransport } from '../../src/transport/ssh.ts';
import { startSshd, sshdSkipReason, type TestSshd } from '../support/sshd.ts';

const debianVm = `hostname=pg1
fqdn=pg1.db.example.com
os.id=debian
os.like=
os.version=12
os.codename=bookworm
os.versionText=12 (bookworm)
os.kernel=6.1.0-18-amd64
arch=x86_64
pkg=apt-get
svc=systemd
virt.type=kvm
virt.container=0
cpus=4
memKb=8131072
link=lo
link=eth0
link=veth1@if7
addr=1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
addr=2: eth0    inet 192.0.2.5/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
addr=2: eth0    inet 192.0.2.100/32 scope global eth0\\       valid_lft forever preferred_lft forever
addr=2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
route=default via 192.0.2.1 dev eth0 proto static onlink
user=root
`;

describe('parseFacts', () => {
  it('parses a Debian VM', () => {
    const f = parseFacts(debianVm);
    expect(f).toMatchObject({
      hostname: 'pg1',
      fqdn: 'pg1.db.example.com',
      os: { family: 'debian', id: 'debian', version: '12', codename: 'bookworm', kernel: '6.1.0-18-amd64' },
      arch: 'x86_64',
      packageManager: 'apt',
      serviceManager: 'systemd',
      virtualization: { type: 'kvm', container: false },
      cpus: 4,
      memoryMb: 7940,
      defaultIpv4: { interface: 'eth0', address: '192.0.2.5', gateway: '192.0.2.1' },
      user: 'root',
    });
    expect(f.interfaces).toEqual([
      { name: 'lo', ipv4: ['127.0.0.1'], ipv6: [] },
      { name: 'eth0', ipv4: ['192.0.2.5', '192.0.2.100'], ipv6: ['fe80::1'] },
      { name: 'veth1', ipv4: [], ipv6: [] },
    ]);
  });

  it('falls back when tools are missing: no ip, no systemd-detect-virt, no os-release codename', () => {
    const f = parseFacts(`hostname=db2
fqdn=
os.id=rocky
os.like=rhel centos fedora
os.version=9.3
os.versionText=9.3 (Blue Onyx)
os.kernel=5.14.0
arch=aarch64
pkg=dnf
svc=sysvinit
virt.pid1Container=lxc
cpus=2
memKb=2048000
link=eth0
procroute=eth0 010200C0
user=deploy
`);
    expect(f.fqdn).toBe('db2');
    expect(f.os).toMatchObject({ family: 'rhel', id: 'rocky', codename: 'blue' });
    expect(f.packageManager).toBe('dnf');
    expect(f.virtualization).toEqual({ type: 'lxc', container: true });
    expect(f.defaultIpv4).toEqual({ interface: 'eth0', address: '', gateway: '192.0.2.1' });
    expect(f.interfaces).toEqual([{ name: 'eth0', ipv4: [], ipv6: [] }]);
  });

  it('recognises docker and VMs without systemd-detect-virt, and no default route', () => {
    const base = 'hostname=h\nos.id=alpine\nos.kernel=6\narch=x86_64\npkg=apk\ncpus=1\nmemKb=1024\nuser=root\n';
    expect(parseFacts(`${base}virt.dockerenv=1\n`).virtualization).toEqual({ type: 'docker', container: true });
    expect(parseFacts(`${base}virt.dmiVendor=QEMU\n`).virtualization).toEqual({ type: 'qemu', container: false });
    const f = parseFacts(base);
    expect(f.virtualization).toEqual({ type: 'none', container: false });
    expect(f.defaultIpv4).toBeNull();
    expect(f.os.family).toBe('alpine');
    expect(f.serviceManager).toBe('unknown');
  });

  it('rejects output that is not the probe', () => {
    expect(() => parseFacts('')).toThrow(/cpus|hostname/);
    expect(() => parseFacts('bash: syntax error\n')).toThrow(/unexpected output|hostname/);
  });
});

describe('FACTS_SCRIPT', () => {
  it('runs under dash with nothing on stderr, as one subshell ending with status 0', () => {
    const r = spawnSync('/bin/sh', ['-c', `${FACTS_SCRIPT}\necho "after=$?"`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = r.stdout;
    expect(out.trimEnd().endsWith('after=0')).toBe(true);
    const f = parseFacts(out);
    expect(f.hostname).toBe(hostname());
  });
});

const skip = sshdSkipReason();

describe.skipIf(skip !== null)(`facts over the loopback sshd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sshd: TestSshd;
  const opened: SshTransport[] = [];
  beforeAll(async () => {
    sshd = await startSshd();
  }, 60_000);
  afterAll(async () => {
    for (const t of opened) await t.close().catch(() => {});
    await sshd?.stop();
  });

  it('are gathered in one round trip and describe this machine', async () => {
    const t = new SshTransport(sshd.host('self', { user: sshd.user, become: true }));
    opened.push(t);
    await t.connect();
    const before = t.stats.execs;
    const f = await gatherFacts(t);
    expect(t.stats.execs).toBe(before + 1);
    expect(f.hostname).toBe(execFileSync('hostname', { encoding: 'utf8' }).trim());
    expect(f.arch).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
    expect(f.os.id).toBe('debian');
    expect(f.os.family).toBe('debian');
    expect(f.packageManager).toBe('apt');
    expect(f.memoryMb).toBeGreaterThan(0);
    expect(f.memoryMb).toBe(Math.floor(totalmem() / 1024 / 1024));
    expect(f.cpus).toBeGreaterThanOrEqual(1);
    expect(f.cpus).toBeLessThanOrEqual(cpus().length);
    expect(f.user).toBe('root'); // become applies to the probe
    expect(f.interfaces.find((i) => i.name === 'lo')?.ipv4).toContain('127.0.0.1');
    expect(f.serviceManager === 'systemd').toBe(existsSync('/run/systemd/system'));
    if (existsSync('/usr/bin/systemd-detect-virt')) {
      const virt = spawnSync('systemd-detect-virt', { encoding: 'utf8' }).stdout.trim();
      expect(f.virtualization.type).toBe(virt);
    }

    const plain = new SshTransport(sshd.host('self-plain', { user: sshd.user }));
    opened.push(plain);
    expect((await gatherFacts(plain)).user).toBe(sshd.user);
  });
});
