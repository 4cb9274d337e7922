/**
 * Plan logic of the ops this machine cannot apply (no systemd as PID 1, no kernel modules,
 * and packages/users are exercised for real in the sshd tests), driven by recorded probe
 * outputs of real Debian 12 hosts. Every generated script is also syntax-checked by dash.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import type { OpPlan, OpTask, ProbeOutput } from '../../src/engine/types.ts';
import { group, kernelModule, packages, service, sysctl, user } from '../../src/ops/index.ts';
import { installScript } from '../../src/ops/packages.ts';
import { applyPlan } from '../../src/engine/run-task.ts';
import { RecordingTransport, ShTransport, converge, fakeFacts, makeCtx } from './helpers.ts';

/** dash -n: the script parses as POSIX sh. */
function assertSh(script: string): void {
  const r = spawnSync('dash', ['-n'], { input: script });
  expect(r.status, `${script}\n${r.stderr}`).toBe(0);
}

function probed(stdout: string, code = 0): ProbeOutput {
  return { code, stdout };
}

/** Plans with a recorded probe; returns the plan and what apply would send to the host. */
async function planWith(op: OpTask, probe: ProbeOutput, opts: { check?: boolean; facts?: ReturnType<typeof fakeFacts>; answer?: ConstructorParameters<typeof RecordingTransport>[0] } = {}) {
  assertSh(op.probe ?? '');
  const t = new RecordingTransport(opts.answer);
  const tc = makeCtx(t, { check: opts.check ?? false, ...(opts.facts ? { facts: opts.facts } : {}) });
  const plan: OpPlan = await op.plan(probe, tc.ctx);
  const before = t.calls.length;
  if (plan.change && !tc.ctx.check) await applyPlan(tc.ctx, plan);
  const applied = t.calls.slice(before);
  for (const c of applied) assertSh(c.script);
  return { plan, applied, warnings: tc.warnings, calls: t.calls, logs: tc.logs };
}

const unit = (load: string, active: string, file: string, reload = 'no') =>
  probed(`LoadState=${load}\nActiveState=${active}\nUnitFileState=${file}\nNeedDaemonReload=${reload}\n`);

describe('service (recorded systemctl show)', () => {
  it('started+enabled on a running enabled unit is ok', async () => {
    const { plan, applied } = await planWith(service({ name: 'patroni', state: 'started', enabled: true }), unit('loaded', 'active', 'enabled'));
    expect(plan).toEqual({ change: false });
    expect(applied).toEqual([]);
  });

  it('starts and enables in one exec, in that order', async () => {
    const { plan, applied } = await planWith(service({ name: 'patroni', state: 'started', enabled: true }), unit('loaded', 'inactive', 'disabled'));
    expect(plan).toMatchObject({ change: true, summary: 'enable, start' });
    expect(applied).toHaveLength(1);
    const s = applied[0]!.script;
    expect(s.indexOf("systemctl enable -- 'patroni.service'")).toBeGreaterThan(-1);
    expect(s.indexOf("systemctl start -- 'patroni.service'")).toBeGreaterThan(s.indexOf('enable'));
  });

  it('daemon-reloads first when systemd asks for it, and says so', async () => {
    const { plan, applied } = await planWith(service({ name: 'etcd', state: 'started' }), unit('loaded', 'active', 'enabled', 'yes'));
    expect(plan).toMatchObject({ change: true, summary: 'daemon-reload' });
    expect(applied[0]!.script).toContain('systemctl daemon-reload');
    const r = await planWith(service({ name: 'etcd', state: 'restarted' }), unit('loaded', 'active', 'enabled', 'yes'));
    expect(r.plan).toMatchObject({ summary: 'daemon-reload, restart' });
    expect(r.applied[0]!.script.indexOf('daemon-reload')).toBeLessThan(r.applied[0]!.script.indexOf('restart'));
  });

  it('restarted and reloaded always change; reloading a stopped unit starts it', async () => {
    expect((await planWith(service({ name: 'haproxy', state: 'restarted' }), unit('loaded', 'active', 'enabled'))).plan).toMatchObject({ change: true, summary: 'restart' });
    expect((await planWith(service({ name: 'haproxy', state: 'reloaded' }), unit('loaded', 'active', 'enabled'))).plan).toMatchObject({ change: true, summary: 'reload' });
    const stopped = await planWith(service({ name: 'haproxy', state: 'reloaded' }), unit('loaded', 'inactive', 'enabled'));
    expect(stopped.plan).toMatchObject({ change: true, summary: 'start (was not running)' });
    expect(stopped.applied[0]!.script).toContain("systemctl start -- 'haproxy.service'");
  });

  it('stops and disables; static units need no enable', async () => {
    expect((await planWith(service({ name: 'x', state: 'stopped', enabled: false }), unit('loaded', 'active', 'enabled'))).plan).toMatchObject({ summary: 'disable, stop' });
    expect((await planWith(service({ name: 'x', state: 'stopped' }), unit('loaded', 'failed', 'disabled'))).plan).toEqual({ change: false });
    expect((await planWith(service({ name: 'x', enabled: true }), unit('loaded', 'active', 'static'))).plan).toEqual({ change: false });
  });

  it('masks and unmasks', async () => {
    expect((await planWith(service({ name: 'x', masked: true, state: 'stopped' }), unit('loaded', 'active', 'enabled'))).plan).toMatchObject({ summary: 'mask, stop' });
    expect((await planWith(service({ name: 'x', masked: true }), unit('masked', 'inactive', 'masked'))).plan).toEqual({ change: false });
    const un = await planWith(service({ name: 'x', masked: false, enabled: true, state: 'started' }), unit('masked', 'inactive', 'masked'));
    expect(un.plan).toMatchObject({ summary: 'unmask, enable, start' });
  });

  it('fails clearly for an unknown unit, a masked unit to start, and no systemd', async () => {
    await expect(planWith(service({ name: 'patroni', state: 'started' }), unit('not-found', 'inactive', ''))).rejects.toThrow('service patroni.service: unit not found (is its package installed?)');
    // check mode: an earlier package task only said it would install the unit
    expect((await planWith(service({ name: 'patroni', state: 'started', enabled: true }), unit('not-found', 'inactive', ''), { check: true })).plan).toMatchObject({ change: true, summary: 'started, enabled (unit not installed yet)' });
    await expect(planWith(service({ name: 'x', state: 'started' }), unit('masked', 'inactive', 'masked'))).rejects.toThrow(/is masked: cannot be started/);
    // This control machine has systemctl but not systemd as PID 1: the real probe says so.
    const { ctx } = makeCtx(new ShTransport());
    const r = await converge(ctx, service({ name: 'ssh', state: 'started' }));
    expect(r.status === 'failed' && r.error).toMatch(/^service ssh.service: (systemctl show failed \(exit \d+\); is systemd running on this host\?|systemctl not found)/);
  });

  it('a failed start carries the journal tail', async () => {
    const answer = () => ({ code: 1, stdout: '', stderr: 'Job for patroni.service failed.\n@@journal\nline a\nline b: FATAL config\n' });
    const err = await planWith(service({ name: 'patroni', state: 'started' }), unit('loaded', 'inactive', 'enabled'), { answer }).catch((e: Error) => e.message);
    expect(err).toBe('service patroni.service: systemctl failed (exit 1): Job for patroni.service failed.\n--- journalctl -u patroni.service (last 15 lines) ---\nline a\nline b: FATAL config');
  });

  it('names: service patroni (started, enabled); taskName overrides', () => {
    expect(service({ name: 'patroni', state: 'started', enabled: true }).name).toBe('service patroni (started, enabled)');
    expect(service({ name: 'patroni', state: 'restarted', taskName: 'restart patroni' }).name).toBe('restart patroni');
  });
});

describe('sysctl (recorded /proc/sys)', () => {
  it('ok when runtime and the persisted file agree (whitespace normalised)', async () => {
    const op = sysctl({ key: 'net.ipv4.ip_local_port_range', value: '32768 60999' });
    const { plan } = await planWith(op, probed('current=32768\t60999\n@@persisted\nnet.ipv4.ip_local_port_range = 32768   60999\n'));
    expect(plan).toEqual({ change: false });
  });

  it('sets and persists, the line reaching the host on stdin', async () => {
    const { plan, applied } = await planWith(sysctl({ key: 'vm.swappiness', value: 1 }), probed('current=60\n@@persisted\n'));
    expect(plan).toMatchObject({ change: true, summary: 'vm.swappiness 60 -> 1, persist in /etc/sysctl.d/90-rigger.conf' });
    expect(applied[0]!.script).toContain("sysctl -q -w 'vm.swappiness=1'");
    expect(applied[0]!.stdin).toBe('vm.swappiness = 1\n');
  });

  it('only persists when the runtime value is right; only sets when persist is off', async () => {
    expect((await planWith(sysctl({ key: 'vm.swappiness', value: '1' }), probed('current=1\n@@persisted\nvm.swappiness=10\n'))).plan).toMatchObject({ summary: 'persisted 10 -> 1' });
    const r = await planWith(sysctl({ key: 'vm.swappiness', value: '1', persist: false }), probed('current=60\n'));
    expect(r.plan).toMatchObject({ summary: 'vm.swappiness 60 -> 1' });
    expect(r.applied[0]!.script).not.toContain('90-rigger');
  });

  it('fails on a key the kernel does not have', async () => {
    await expect(planWith(sysctl({ key: 'net.nope.x', value: 1 }), probed('@@missing\n@@persisted\n'))).rejects.toThrow('sysctl net.nope.x: no such key on this host (/proc/sys/net/nope/x does not exist)');
  });

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
    // Run the awk part against a scratch file, with the path rewritten to a temp dir.
    const dir = (await t.exec('mktemp -d')).stdout.trim();
    const rec = await planWith(sysctl({ key: 'vm.swappiness', value: '1' }), probed('current=1\n@@persisted\nvm.swappiness = 10\n'));
    expect(rec.plan.change).toBe(true);
    const script = rec.applied[0]!.script.split('/etc/sysctl.d').join(dir);
    await t.exec(`printf '# mine\\nvm.swappiness = 10\\nnet.core.somaxconn=1024\\n' > ${dir}/90-rigger.conf`);
    const r = await t.exec(script, { stdin: rec.applied[0]!.stdin });
    expect(r.code).toBe(0);
    expect((await t.exec(`cat ${dir}/90-rigger.conf; rm -rf ${dir}`)).stdout).toBe('# mine\nvm.swappiness = 1\nnet.core.somaxconn=1024\n');
  });
});

describe('kernelModule (recorded probes)', () => {
  const container = fakeFacts({ virtualization: { type: 'systemd-nspawn', container: true } });

  it('ok when loaded and persisted; persists when only loaded', async () => {
    expect((await planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\nloaded=yes\nmodprobe=yes\navailable=yes\npersisted=yes\n'))).plan).toEqual({ change: false });
    const r = await planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\nloaded=yes\nmodprobe=yes\navailable=yes\n'));
    expect(r.plan).toMatchObject({ summary: 'persist in /etc/modules-load.d/softdog.conf' });
    expect(r.applied[0]!.stdin).toBe('softdog\n');
    expect(r.applied[0]!.script).not.toContain('modprobe');
  });

  it('loads and persists in one exec', async () => {
    const r = await planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\nmodprobe=yes\navailable=yes\n'));
    expect(r.plan).toMatchObject({ summary: 'load softdog, persist in /etc/modules-load.d/softdog.conf' });
    expect(r.applied).toHaveLength(1);
    expect(r.applied[0]!.script).toMatch(/modprobe -- 'softdog'[\s\S]*mv -f "\$t" '\/etc\/modules-load.d\/softdog.conf'/);
  });

  it('built-in modules need nothing', async () => {
    expect((await planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\nbuiltin=yes\nmodprobe=yes\navailable=yes\n'))).plan).toEqual({ change: false, message: 'built into the kernel' });
  });

  it('unavailable: warn -> ok with a warning; fail -> a clear reason', async () => {
    const w = await planWith(kernelModule({ name: 'softdog', ifUnavailable: 'warn' }), probed('kernel=6.1.0\n'), { facts: container });
    expect(w.plan).toEqual({ change: false, message: 'unavailable: running in a container (systemd-nspawn): only the host can load kernel modules' });
    expect(w.warnings).toEqual(['kernel module softdog is unavailable: running in a container (systemd-nspawn): only the host can load kernel modules']);
    await expect(planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\n'))).rejects.toThrow('kernel module softdog is unavailable: modprobe is not installed (package kmod)');
    await expect(planWith(kernelModule({ name: 'softdog' }), probed('kernel=6.1.0\nmodprobe=yes\n'))).rejects.toThrow('kernel module softdog is unavailable: no module softdog for kernel 6.1.0');
  });

  it('a module loaded by the container host counts as loaded', async () => {
    expect((await planWith(kernelModule({ name: 'softdog', persist: false }), probed('kernel=6.1.0\nloaded=yes\n'), { facts: container })).plan).toEqual({ change: false });
  });

  it('the real probe runs here (no modules, no modprobe) and warns', async () => {
    const t = new ShTransport();
    const { ctx, warnings } = makeCtx(t, { facts: fakeFacts({ virtualization: { type: 'docker', container: true } }) });
    const r = await converge(ctx, kernelModule({ name: 'rigger_no_such_module', ifUnavailable: 'warn' }));
    expect(r).toMatchObject({ status: 'ok' });
    expect(warnings).toHaveLength(1);
  });
});

describe('packages (recorded dpkg-query / apt-cache)', () => {
  const dpkg = (...rows: string[]) => probed(`${rows.join('\n')}\n`, 1);

  it('ok when all are installed; installs only the missing, in one apt-get call', async () => {
    expect((await planWith(packages({ names: ['etcd-server', 'etcd-client'] }), dpkg('etcd-server\tinstall ok installed\t3.4.23-4+b6', 'etcd-client\tinstall ok installed\t3.4.23-4+b6'))).plan).toEqual({ change: false });
    const r = await planWith(packages({ names: ['etcd-server', 'etcd-client', 'sl'] }), dpkg('etcd-server\tinstall ok installed\t3.4.23-4+b6', 'sl\tdeinstall ok config-files\t5.02-1+b1'));
    expect(r.plan).toMatchObject({ summary: 'install etcd-client, sl' });
    expect(r.applied).toHaveLength(1);
    const s = r.applied[0]!.script;
    expect(s).toContain("apt-get -q -o DPkg::Lock::Timeout=120 -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install 'etcd-client' 'sl'");
    expect(s).toContain('export DEBIAN_FRONTEND=noninteractive');
  });

  it('pins versions (name=version, downgrades allowed) and accepts a prefix pin', async () => {
    const r = await planWith(packages({ names: ['patroni'], versions: { patroni: '3.0.2-1' } }), dpkg('patroni\tinstall ok installed\t3.0.1-1'));
    expect(r.plan).toMatchObject({ summary: 'install patroni 3.0.1-1 -> 3.0.2-1' });
    expect(r.applied[0]!.script).toContain("--allow-downgrades install 'patroni=3.0.2-1'");
    expect((await planWith(packages({ names: ['patroni'], versions: { patroni: '3.0.*' } }), dpkg('patroni\tinstall ok installed\t3.0.2-1'))).plan).toEqual({ change: false });
  });

  it('latest compares with the apt candidate', async () => {
    const probe = probed('haproxy\tinstall ok installed\t2.6.12-1\nstale=no\n@@policy\nhaproxy:\n  Installed: 2.6.12-1\n  Candidate: 2.6.12-1+deb12u1\n  Version table:\n');
    const r = await planWith(packages({ names: ['haproxy'], state: 'latest' }), probe);
    expect(r.plan).toMatchObject({ summary: 'install haproxy 2.6.12-1 -> 2.6.12-1+deb12u1' });
    expect(r.calls).toHaveLength(1); // lists fresh: no refresh before planning
    const same = probed('haproxy\tinstall ok installed\t2.6.12-1\nstale=no\n@@policy\nhaproxy:\n  Installed: 2.6.12-1\n  Candidate: 2.6.12-1\n');
    expect((await planWith(packages({ names: ['haproxy'], state: 'latest' }), same)).plan).toEqual({ change: false });
  });

  it('latest refreshes stale lists before comparing, but not in check mode', async () => {
    const probe = probed('haproxy\tinstall ok installed\t2.6.12-1\nstale=yes\n@@policy\nhaproxy:\n  Installed: 2.6.12-1\n  Candidate: 2.6.12-1\n');
    const answer = (s: string) => ({ code: 0, stdout: s.includes('apt-cache policy') ? 'haproxy:\n  Installed: 2.6.12-1\n  Candidate: 2.6.12-2\n' : '', stderr: '' });
    const r = await planWith(packages({ names: ['haproxy'], state: 'latest' }), probe, { answer });
    expect(r.calls[0]!.script).toContain('apt-get -q -o DPkg::Lock::Timeout=120 update');
    expect(r.plan).toMatchObject({ summary: 'install haproxy 2.6.12-1 -> 2.6.12-2' });
    const c = await planWith(packages({ names: ['haproxy'], state: 'latest' }), probe, { check: true, answer });
    expect(c.plan).toEqual({ change: false });
    expect(c.calls).toHaveLength(0);
  });

  it('removes (not purges) what is installed', async () => {
    const r = await planWith(packages({ names: ['sl', 'hello'], state: 'absent' }), dpkg('sl\tinstall ok installed\t5.02-1+b1'));
    expect(r.plan).toMatchObject({ summary: 'remove sl' });
    expect(r.applied[0]!.script).toBe("DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 -y remove 'sl'");
  });

  it('fails clearly on other package managers', async () => {
    await expect(planWith(packages({ names: ['x'] }), probed('@@no-dpkg\n'), { facts: fakeFacts({ packageManager: 'dnf' }) })).rejects.toThrow(/only apt \(Debian\/Ubuntu\) is supported; recorded uses dnf/);
  });

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

describe('user / group (recorded getent)', () => {
  it('creates a user with the wanted attributes, reusing an existing group of its name', async () => {
    const r = await planWith(user({ name: 'postgres', system: true, home: '/var/lib/postgresql', shell: '/bin/bash', groups: ['ssl-cert'] }), probed('@@absent\n'));
    expect(r.plan).toMatchObject({ summary: 'create (system, home /var/lib/postgresql, shell /bin/bash, groups ssl-cert)' });
    expect(r.applied[0]!.script).toContain("useradd \"$@\" '--system' '--home-dir' '/var/lib/postgresql' '--shell' '/bin/bash' '--create-home' '--groups' 'ssl-cert' 'postgres'");
    expect(r.applied[0]!.script).toContain("getent group 'postgres'");
  });

  it('adds missing supplementary groups only; changes the shell', async () => {
    const probe = probed('postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n@@groups postgres ssl-cert\n');
    const r = await planWith(user({ name: 'postgres', shell: '/bin/bash', groups: ['ssl-cert', 'etcd'] }), probe);
    expect(r.plan).toMatchObject({ summary: 'shell /bin/sh -> /bin/bash, add to groups etcd' });
    expect(r.applied[0]!.script).toBe("usermod '--shell' '/bin/bash' '--append' '--groups' 'etcd' 'postgres'");
    expect((await planWith(user({ name: 'postgres', groups: ['ssl-cert'] }), probe)).plan).toEqual({ change: false });
  });

  it('groups: create with gid, change gid, remove', async () => {
    expect((await planWith(group({ name: 'etcd', system: true, gid: 990 }), probed('@@absent\n'))).plan).toMatchObject({ summary: 'create (system, gid 990)' });
    expect((await planWith(group({ name: 'etcd', gid: 990 }), probed('etcd:x:991:\n'))).plan).toMatchObject({ summary: 'gid 991 -> 990' });
    expect((await planWith(group({ name: 'etcd' }), probed('etcd:x:991:\n'))).plan).toEqual({ change: false });
    expect((await planWith(group({ name: 'etcd', state: 'absent' }), probed('etcd:x:991:\n'))).plan).toMatchObject({ summary: 'remove' });
  });
});
