/**
 * The lab itself: every host of the shared topology answers over real SSH with host key
 * checking on, and the fault verbs do what they say. Faults are tried on extra hosts (t1, t2)
 * so the shared cluster that later test files use is never disturbed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/lab/run.ts';
import { sshOptions } from '../../src/lab/ssh.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';

const skip = labSkipReason();
const DEFAULT_HOSTS = ['pg1', 'pg2', 'pg3', 'lb1', 'lb2', 'backup1'];
const EXTRA = ['t1', 't2'];

/** Retries until `ok` holds (state converging after a fault), failing with the last value. */
async function eventually<T>(what: string, attempt: () => Promise<T>, ok: (v: T) => boolean, tries = 40): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await attempt();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: still ${JSON.stringify(last)}`);
}

describe.skipIf(skip !== null)(`lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;

  beforeAll(async () => {
    lab = await ensureLab();
    // Leftovers of an interrupted earlier run.
    for (const h of EXTRA) if (lab.hosts[h]) await lab.remove(h);
  });

  afterAll(async () => {
    if (lab) for (const h of EXTRA) if (lab.hosts[h]) await lab.remove(h);
  });

  it('has the default topology and an inventory for it', () => {
    expect(Object.keys(lab.hosts)).toEqual(expect.arrayContaining(DEFAULT_HOSTS));
    const inv = readFileSync(join(lab.inventoryDir, 'hosts.yml'), 'utf8');
    for (const h of DEFAULT_HOSTS) expect(inv).toContain(`${h}: { address: ${lab.hosts[h]} }`);
    expect(inv).toContain(`virtualIp: ${lab.vip}`);
  });

  it('reaches every host over ssh with host key checking on; each runs systemd as itself', async () => {
    const results = await Promise.all(
      DEFAULT_HOSTS.map(async (h) => ({ h, r: await lab.ssh(h, 'hostname; ps -o comm= -p 1; systemctl is-system-running; cat /etc/machine-id') })),
    );
    const machineIds = new Set<string>();
    for (const { h, r } of results) {
      expect(r.code, `${h}: ${r.stderr}`).toBe(0);
      const [name, pid1, state, machineId] = r.stdout.trim().split('\n');
      expect(name).toBe(h);
      expect(pid1).toBe('systemd');
      // Roles deployed by other test files may leave a unit failed; systemd itself is up either way.
      expect(['running', 'degraded']).toContain(state);
      expect(machineId).toMatch(/^[0-9a-f]{32}$/);
      machineIds.add(machineId!);
    }
    expect(machineIds.size).toBe(DEFAULT_HOSTS.length);
  });

  it('refuses a host whose key does not match known_hosts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-kh-'));
    try {
      // pg1's address with pg2's key: what a man in the middle would look like.
      const lines = readFileSync(lab.knownHosts, 'utf8').split('\n');
      const pg2Key = lines.find((l) => l.startsWith(`${lab.hosts.pg2},`))!.split(' ').slice(1).join(' ');
      const wrong = join(dir, 'known_hosts');
      writeFileSync(wrong, `${lab.hosts.pg1} ${pg2Key}\n`);
      const r = await run(['ssh', ...sshOptions({ privateKey: lab.privateKey, knownHosts: wrong }), `root@${lab.hosts.pg1}`, 'true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds extra hosts with their own identity and cgroups, reachable from the others', async () => {
    await lab.add('t1');
    await lab.add('t2');
    const r = await lab.ssh('t1', 'hostname; systemctl is-system-running');
    expect(r.stdout.trim().split('\n')).toEqual(['t1', 'running']);
    const inv = readFileSync(join(lab.inventoryDir, 'hosts.yml'), 'utf8');
    expect(inv).toContain(`t1: { address: ${lab.hosts.t1} }`);
    expect((await lab.ssh('t2', `ping -c1 -W2 ${lab.hosts.t1}`)).code).toBe(0);
    // Each host has its own cgroup tree: stopping a unit on t1 leaves t2's unit of the same name alone.
    for (const h of EXTRA) expect((await lab.ssh(h, 'systemd-run --unit=lab-probe sleep 600')).code).toBe(0);
    expect((await lab.ssh('t1', 'systemctl stop lab-probe')).code).toBe(0);
    expect((await lab.ssh('t2', 'systemctl is-active lab-probe')).stdout.trim()).toBe('active');
    await lab.ssh('t2', 'systemctl stop lab-probe');
  });

  it('kill cuts the power; start boots the host again with its filesystem intact', async () => {
    const before = await lab.ssh('t1', 'rm -f /var/tmp/stopped-cleanly; echo kept > /var/tmp/marker && sync && cat /proc/sys/kernel/random/boot_id');
    expect(before.code).toBe(0);
    expect(await lab.fault('kill', 't1')).toMatch(/killed/);
    expect(lab.isRunning('t1')).toBe(false);
    expect((await lab.ssh('t1', 'true', { timeoutMs: 4_000 })).code).toBe(255);
    await lab.fault('start', 't1');
    const after = await lab.ssh('t1', 'cat /var/tmp/marker; cat /proc/sys/kernel/random/boot_id; systemctl is-system-running');
    const [marker, bootId, state] = after.stdout.trim().split('\n');
    expect(marker).toBe('kept');
    expect(bootId).not.toBe(before.stdout.trim());
    expect(state).toBe('running');
  });

  it('partition cuts the host off the network while it keeps running; heal brings it back', async () => {
    const bootId = (await lab.exec('t1', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    await lab.fault('partition', 't1');
    const fromControl = await lab.ssh('t1', 'true', { timeoutMs: 4_000 });
    expect(fromControl.code).toBe(255);
    const fromPeer = await lab.ssh('t2', `ping -c1 -W1 ${lab.hosts.t1} >/dev/null && echo reachable || echo unreachable`);
    expect(fromPeer.stdout.trim()).toBe('unreachable');
    const inside = await lab.exec('t1', 'systemctl is-system-running; cat /proc/sys/kernel/random/boot_id');
    expect(inside.stdout.trim().split('\n')).toEqual(['running', bootId]);

    await lab.fault('heal', 't1');
    const back = await eventually('t1 over ssh after heal', () => lab.ssh('t1', 'cat /proc/sys/kernel/random/boot_id', { timeoutMs: 4_000 }), (r) => r.code === 0);
    expect(back.stdout.trim()).toBe(bootId);
    expect((await lab.ssh('t2', `ping -c1 -W2 ${lab.hosts.t1}`)).code).toBe(0);
  });

  it('stop powers the host off cleanly (its units are stopped, not killed)', async () => {
    // A unit whose stop command leaves a trace: it runs only on an orderly shutdown.
    const unit = '[Unit]\nDescription=lab probe\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/bin/sh -c "echo clean > /var/tmp/stopped-cleanly"\n[Install]\nWantedBy=multi-user.target\n';
    const wrote = await lab.ssh('t1', 'cat > /etc/systemd/system/lab-stop-probe.service && systemctl daemon-reload && systemctl start lab-stop-probe && systemctl is-active lab-stop-probe', { input: unit });
    expect(wrote.stdout.trim()).toBe('active');
    expect(await lab.fault('stop', 't1')).toBe('t1 powered off');
    expect(lab.isRunning('t1')).toBe(false);
    expect(readFileSync(lab.hostFile('t1', 'var/tmp/stopped-cleanly'), 'utf8').trim()).toBe('clean');
  });

  it('remove deletes the extra hosts and drops them from the inventory', async () => {
    for (const h of EXTRA) await lab.remove(h);
    expect(Object.keys(lab.hosts)).not.toContain('t1');
    const inv = readFileSync(join(lab.inventoryDir, 'hosts.yml'), 'utf8');
    expect(inv).not.toMatch(/\bt[12]:/);
    expect(readFileSync(lab.knownHosts, 'utf8')).not.toContain(`,t1 `);
  });
});
