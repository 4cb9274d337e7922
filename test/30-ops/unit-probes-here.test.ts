/**
 * The ops this machine cannot apply (no systemd as PID 1, no kernel modules), run with their
 * REAL probes against this control machine; plus what a fixture cannot show (the sysctl
 * persist script run on a scratch file). Plan logic with recorded probe outputs of real
 * Debian 12 hosts lives in the fixtures (fixtures/<op>/*.yaml, run by fixtures.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { kernelModule, packages, service, sysctl } from '../../src/ops/index.ts';
import { installScript } from '../../src/ops/packages.ts';
import { ShTransport, converge, fakeFacts, makeCtx } from './helpers.ts';

/** dash -n: the script parses as POSIX sh. */
function assertSh(script: string): void {
  const r = spawnSync('dash', ['-n'], { input: script });
  expect(r.status, `${script}\n${r.stderr}`).toBe(0);
}

describe('service', () => {
  it('this control machine has systemctl but not systemd as PID 1: the real probe says so', async () => {
    const { ctx } = makeCtx(new ShTransport());
    const r = await converge(ctx, service({ name: 'ssh', state: 'started' }));
    expect(r.status === 'failed' && r.error).toMatch(/^service ssh.service: (systemctl show failed \(exit \d+\); is systemd running on this host\?|systemctl not found)/);
  });

  it('names: service patroni (started, enabled); taskName overrides', () => {
    expect(service({ name: 'patroni', state: 'started', enabled: true }).name).toBe('service patroni (started, enabled)');
    expect(service({ name: 'patroni', state: 'restarted', taskName: 'restart patroni' }).name).toBe('restart patroni');
  });
});

describe('sysctl', () => {
  it('the real probe reads /proc/sys here, and check mode changes nothing', async () => {
    const { ctx } = makeCtx(new ShTransport(), { check: true });
    const cur = (await new ShTransport().exec('cat /proc/sys/net/ipv4/ip_local_port_range')).stdout.trim().split(/\s+/).join(' ');
    const same = await converge(ctx, sysctl({ key: 'net.ipv4.ip_local_port_range', value: cur, persist: false }));
    expect(same).toEqual({ status: 'ok' });
    const other = await converge(ctx, sysctl({ key: 'net.ipv4.ip_local_port_range', value: '40000 50000', persist: false }));
    expect(other).toMatchObject({ status: 'changed', summary: `net.ipv4.ip_local_port_range ${cur} -> 40000 50000` });
  });

  it('the persist script replaces the key line in place and keeps the rest', async () => {
    const t = new ShTransport();
    const { ctx } = makeCtx(t);
    const plan = await sysctl({ key: 'vm.swappiness', value: '1' }).plan({ code: 0, stdout: 'current=1\n@@persisted\nvm.swappiness = 10\n' }, ctx);
    if (!plan.change) throw new Error('expected a change');
    const [cmd] = plan.commands;
    // Run it against a scratch file, with the path rewritten to a temp dir.
    const dir = (await t.exec('mktemp -d')).stdout.trim();
    await t.exec(`printf '# mine\\nvm.swappiness = 10\\nnet.core.somaxconn=1024\\n' > ${dir}/90-rigger.conf`);
    const r = await t.exec(cmd!.script.split('/etc/sysctl.d').join(dir), { stdin: String(cmd!.stdin) });
    expect(r.code).toBe(0);
    expect((await t.exec(`cat ${dir}/90-rigger.conf; rm -rf ${dir}`)).stdout).toBe('# mine\nvm.swappiness = 1\nnet.core.somaxconn=1024\n');
  });
});

describe('kernelModule', () => {
  it('the real probe runs here (no modules, no modprobe) and warns', async () => {
    const t = new ShTransport();
    const { ctx, warnings } = makeCtx(t, { facts: fakeFacts({ virtualization: { type: 'docker', container: true } }) });
    const r = await converge(ctx, kernelModule({ name: 'rigger_no_such_module', ifUnavailable: 'warn' }));
    expect(r).toMatchObject({ status: 'ok' });
    expect(warnings).toHaveLength(1);
  });
});

describe('packages', () => {
  it('update only when lists are stale or a package has no candidate; never with updateCache false', () => {
    const s = installScript(['hello'], false, true);
    expect(s).toMatch(/-mmin -60/);
    expect(s).toMatch(/Candidate/);
    assertSh(s);
    expect(installScript(['hello'], false, false)).not.toContain('update');
  });

  it('the real probe runs against dpkg here', async () => {
    const { ctx } = makeCtx(new ShTransport(), { check: true });
    expect(await converge(ctx, packages({ names: ['dash', 'coreutils'] }))).toEqual({ status: 'ok' });
    expect(await converge(ctx, packages({ names: ['rigger-no-such-package'], state: 'absent' }))).toEqual({ status: 'ok' });
    expect(packages({ names: ['etcd-server', 'etcd-client'] }).name).toBe('packages: etcd-server, etcd-client');
  });
});
