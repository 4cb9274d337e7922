/**
 * The edge roles on the lab (chrony, softdog, haproxy, keepalived, pgbackrest), after the site
 * playbook: the VIP on exactly one balancer and moving when HAProxy on it stops, 5000/5001
 * routed to the Patroni leader / replicas, a config change reloading HAProxy (same master
 * PID), pgbackrest check green with a full backup, chrony and softdog reporting the
 * container case as warnings, and a second run changing nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routedTo, serverStates, type ServerState } from '../../roles/haproxy/live.ts';
import type { ExecResult } from '../../src/transport/types.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { eventually as retry, rigger as runRigger } from '../support/rigger-cli.ts';

const skip = labSkipReason();
const BALANCERS = ['lb1', 'lb2'];
const DB = ['pg1', 'pg2', 'pg3'];

/** HAProxy and keepalived settle within seconds: a short wait, polled often. */
const eventually = <T>(what: string, attempt: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => retry(what, attempt, ok, 30_000, 500);

describe.skipIf(skip !== null)(`edge roles on the lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  let tmp: string;

  const rigger = (playbook: string, extra: string[] = []) => runRigger(playbook, lab.inventoryDir, tmp, extra);

  /** The lab host as the runtime helpers expect it: something with exec(). */
  const onHost = (host: string) => ({
    exec: async (script: string): Promise<ExecResult> => lab.ssh(host, script, { timeoutMs: 30_000 }),
  });

  async function vipHolders(): Promise<string[]> {
    const held = await Promise.all(
      BALANCERS.map(async (h) => ((await lab.ssh(h, `ip -o -4 addr show to ${lab.vip}/32`)).stdout.trim() ? h : null)),
    );
    return held.filter((h): h is string => h !== null);
  }

  async function haproxyPid(host: string): Promise<string> {
    return (await lab.ssh(host, 'systemctl show -p MainPID --value haproxy')).stdout.trim();
  }

  /** Leader and replicas as Patroni reports them (GET /cluster on pg1). */
  async function patroniRoles(): Promise<{ leader: string; replicas: string[] }> {
    const r = await lab.ssh('pg1', 'curl -s --max-time 5 http://127.0.0.1:8008/cluster');
    const members = (JSON.parse(r.stdout) as { members: Array<{ name: string; role: string; state: string }> }).members;
    const leader = members.find((m) => m.role === 'leader')?.name ?? '';
    return { leader, replicas: members.filter((m) => m.role !== 'leader' && ['running', 'streaming'].includes(m.state)).map((m) => m.name).sort() };
  }

  let first: Awaited<ReturnType<typeof rigger>>;

  beforeAll(async () => {
    lab = await ensureLab();
    tmp = mkdtempSync(join(tmpdir(), 'rigger-edge-'));
    // The site test (70-site) deployed everything already; this converges (or deploys when run alone).
    first = await rigger('playbooks/site.ts');
  }, 1_800_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('site ran green', () => {
    expect(first.recap.ok, first.stderr.slice(-3000)).toBe(true);
    expect(first.code).toBe(0);
  });

  it('chrony: configured on every host, the container case reported as a warning, not a failure', async () => {
    for (const h of [...DB, ...BALANCERS, 'backup1']) {
      expect(first.recap.hosts[h]!.warnings.some((w) => /chrony configured but not running: container/.test(w)), h).toBe(true);
      const conf = await lab.ssh(h, 'cat /etc/chrony/chrony.conf');
      expect(conf.stdout).toContain('server 10.213.7.1 iburst');
    }
  });

  it('softdog: no watchdog in a container is a warning on the database hosts (Patroni mode automatic)', async () => {
    for (const h of DB) {
      expect(first.recap.hosts[h]!.warnings.some((w) => /no watchdog device \/dev\/watchdog: this host is a container/.test(w)), h).toBe(true);
      expect((await lab.ssh(h, 'cat /etc/modules-load.d/softdog.conf')).stdout).toContain('softdog');
    }
  });

  it('keepalived: the VIP is on exactly one balancer, the first one', async () => {
    const holders = await eventually('VIP holders', vipHolders, (h) => h.length === 1);
    expect(holders).toEqual(['lb1']);
  });

  it('haproxy: 5000 goes to the Patroni leader, 5001 to the replicas, on both balancers', async () => {
    const roles = await patroniRoles();
    expect(DB).toContain(roles.leader);
    expect(roles.replicas.length).toBe(2);
    for (const lb of BALANCERS) {
      const states = await eventually(
        `${lb} routing`,
        () => serverStates(onHost(lb)),
        (s: ServerState[]) => routedTo(s, 'postgres_primary').join() === roles.leader && routedTo(s, 'postgres_replicas').sort().join() === roles.replicas.join(),
      );
      const primary = states.filter((s) => s.backend === 'postgres_primary');
      expect(primary.filter((s) => s.up).map((s) => s.server)).toEqual([roles.leader]);
      // The replicas fail the /primary check with an HTTP status (L7STS), not a connection error.
      expect(primary.filter((s) => !s.up).every((s) => s.checkStatus === 'L7STS')).toBe(true);
    }
  });

  it('haproxy: a config change reloads HAProxy (same master PID), and only that', async () => {
    const before = await Promise.all(BALANCERS.map(haproxyPid));
    const changed = await rigger('test/71-roles/fixtures/edge-haproxy-check.ts');
    expect(changed.recap.ok, changed.stderr.slice(-2000)).toBe(true);
    for (const lb of BALANCERS) {
      const mine = changed.events.filter((e) => e.host === lb);
      expect(mine.filter((e) => e.result.status === 'changed').map((e) => e.task)).toEqual(['file /etc/haproxy/haproxy.cfg', 'service haproxy (reloaded)']);
      expect(mine.find((e) => e.task === 'service haproxy (reloaded)')?.handler).toBe(true);
      expect((await lab.ssh(lb, 'grep "timeout check" /etc/haproxy/haproxy.cfg')).stdout.trim()).toBe('timeout check 6s');
    }
    expect(await Promise.all(BALANCERS.map(haproxyPid))).toEqual(before);
    // site puts the seeds' 5s back, again by a reload
    const back = await rigger('playbooks/site.ts', ['--limit', 'balancers']);
    expect(back.recap.ok).toBe(true);
    expect((await lab.ssh('lb1', 'grep "timeout check" /etc/haproxy/haproxy.cfg')).stdout.trim()).toBe('timeout check 5s');
    expect(await Promise.all(BALANCERS.map(haproxyPid))).toEqual(before);
  });

  it('haproxy: a config that haproxy -c rejects never replaces the running one', async () => {
    const before = await Promise.all(BALANCERS.map(haproxyPid));
    const cfg = (await lab.ssh('lb1', 'sha256sum /etc/haproxy/haproxy.cfg')).stdout;
    const bad = await rigger('test/71-roles/fixtures/edge-haproxy-bad.ts');
    expect(bad.recap.ok).toBe(false);
    const failed = bad.events.filter((e) => e.result.status === 'failed');
    expect(failed.map((e) => `${e.host}: ${e.task}`).sort()).toEqual(['lb1: file /etc/haproxy/haproxy.cfg', 'lb2: file /etc/haproxy/haproxy.cfg']);
    expect(failed[0]!.result.error).toMatch(/validation failed[\s\S]*expects <address> and <facility>/);
    expect((await lab.ssh('lb1', 'sha256sum /etc/haproxy/haproxy.cfg')).stdout).toBe(cfg);
    expect(bad.events.some((e) => e.task === 'service haproxy (reloaded)')).toBe(false);
    expect(await Promise.all(BALANCERS.map(haproxyPid))).toEqual(before);
  });

  it('keepalived: stopping HAProxy on the VIP holder moves the VIP; it comes back when HAProxy does', async () => {
    const [holder] = await eventually('VIP holders', vipHolders, (h) => h.length === 1);
    const other = BALANCERS.find((b) => b !== holder)!;
    await lab.ssh(holder!, 'systemctl stop haproxy');
    try {
      expect(await eventually('VIP after stopping haproxy', vipHolders, (h) => h.length === 1 && h[0] === other)).toEqual([other]);
    } finally {
      await lab.ssh(holder!, 'systemctl start haproxy');
    }
    // preempt: the first balancer takes it back once its check passes again
    expect(await eventually('VIP after starting haproxy', vipHolders, (h) => h.length === 1 && h[0] === 'lb1')).toEqual(['lb1']);
  });

  it('pgbackrest: check is green from the repository host and the leader; a full backup exists', async () => {
    const repo = await lab.ssh('backup1', 'runuser -u pgbackrest -- pgbackrest --stanza=main check', { timeoutMs: 120_000 });
    expect(repo.code, repo.stderr + repo.stdout).toBe(0);
    const { leader } = await patroniRoles();
    const db = await lab.ssh(leader, 'runuser -u postgres -- pgbackrest --stanza=main check', { timeoutMs: 120_000 });
    expect(db.code, db.stderr + db.stdout).toBe(0);
    const info = await lab.ssh('backup1', 'runuser -u pgbackrest -- pgbackrest --stanza=main --output=json info');
    const stanza = (JSON.parse(info.stdout) as Array<{ name: string; status: { code: number }; backup: Array<{ type: string }> }>)[0]!;
    expect(stanza.status.code).toBe(0);
    expect(stanza.backup.some((b) => b.type === 'full')).toBe(true);
  });

  it('pgbackrest: SSH trust is pinned, not learned (known_hosts holds the hosts own keys)', async () => {
    const known = (await lab.ssh('backup1', 'cat /home/pgbackrest/.ssh/known_hosts')).stdout;
    for (const h of DB) {
      const own = (await lab.ssh(h, 'cat /etc/ssh/ssh_host_ed25519_key.pub')).stdout.trim().split(/\s+/).slice(0, 2).join(' ');
      expect(known).toContain(`${h},${lab.hosts[h]} ${own}`);
    }
  });

  it('a second run changes nothing of these roles and restarts nothing', async () => {
    const pids = await Promise.all(BALANCERS.map(haproxyPid));
    const again = await rigger('playbooks/site.ts');
    expect(again.recap.ok).toBe(true);
    const mine = new Set(['chrony', 'softdog', 'haproxy', 'keepalived', 'pgbackrest']);
    const changed = again.events.filter((e) => e.result.status === 'changed' && mine.has(e.role ?? '')).map((e) => `${e.host}: ${e.role}: ${e.task}`);
    expect(changed).toEqual([]);
    expect(await Promise.all(BALANCERS.map(haproxyPid))).toEqual(pids);
    process.stdout.write(`edge: no-op site converge in ${again.recap.durationMs} ms\n`);
  });
});
