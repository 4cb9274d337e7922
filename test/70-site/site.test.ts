/**
 * The whole stack on the lab, through the CLI: site.ts from bare hosts, then what a DBA checks
 * after it (etcd quorum, Patroni roles, routing through the VIP, backups), a second run that
 * changes and restarts nothing, a DCS setting changed first with --check --diff then for
 * real, and a failover drill (the leader host killed, a new leader, writes through the VIP
 * again, the old leader back as a replica). Prints the deploy, no-op and failover times.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCluster, type ClusterState, type Member } from '../../roles/patroni/live.ts';
import { instanceName, resolveInstance } from '../../src/lab/instance.ts';
import { down as labDown, up as labUp } from '../../src/lab/lab.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { eventually, failures, rigger as runRigger, secs, type Run } from '../support/rigger-cli.ts';

const skip = labSkipReason();
const DB = ['pg1', 'pg2', 'pg3'];
const BALANCERS = ['lb1', 'lb2'];
const ALL = [...DB, ...BALANCERS, 'backup1'];
/** The data directory of the lab's PostgreSQL (15 on Debian 12, 17 on 13): set once the lab is up. */
let DATA = '';

describe.skipIf(skip !== null)(`site playbook on the lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  let tmp: string;
  const timings: string[] = [];

  const rigger = (playbook: string, extra: string[] = [], inventory = lab.inventoryDir): Promise<Run> => runRigger(playbook, inventory, tmp, extra);

  async function sh(host: string, cmd: string, input?: string): Promise<string> {
    const r = await lab.ssh(host, cmd, { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
    if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** GET /cluster through the member on `host`. */
  async function cluster(host: string): Promise<ClusterState> {
    return parseCluster(JSON.parse(await sh(host, 'curl -sS --max-time 5 http://127.0.0.1:8008/cluster')));
  }

  const healthy = (c: ClusterState) =>
    c.members.length === 3 &&
    c.members.every((m) => (m.state === 'running' || m.state === 'streaming') && m.timeline !== null && m.timeline === c.members[0]!.timeline) &&
    c.members.filter((m) => m.role !== 'leader').every((m) => m.lagBytes === 0) &&
    c.members.map((m) => m.role).sort().join() === 'leader,replica,sync_standby';

  /** psql on backup1 against the VIP; the password goes through stdin, never a command line. */
  async function viaVip(port: number, sql: string): Promise<string> {
    const password = readFileSync(join(lab.secretsDir, 'pg-superuser'), 'utf8').trim();
    return (
      await sh(
        'backup1',
        `IFS= read -r PGPASSWORD; export PGPASSWORD PGCONNECT_TIMEOUT=5; psql -X -q -A -t -h ${lab.vip} -p ${port} -U postgres -d postgres -v ON_ERROR_STOP=1 -c "${sql}"`,
        `${password}\n`,
      )
    ).trim();
  }

  /** Main PID and start time of the units that must not restart, per host. */
  async function processes(): Promise<Record<string, string>> {
    const units: Record<string, string[]> = { lb1: ['haproxy', 'keepalived'], lb2: ['haproxy', 'keepalived'] };
    for (const h of DB) units[h] = ['etcd', 'rigger-patroni'];
    const out: Record<string, string> = {};
    for (const [host, list] of Object.entries(units)) {
      for (const u of list) out[`${host} ${u}`] = (await sh(host, `systemctl show -p MainPID,ActiveEnterTimestamp --value ${u}`)).trim().replace(/\n/g, ' ');
      if (DB.includes(host)) out[`${host} postmaster`] = (await sh(host, `head -n 1 ${DATA}/postmaster.pid`)).trim();
    }
    return out;
  }

  async function showOnMembers(name: string): Promise<string[]> {
    return Promise.all(DB.map(async (h) => (await sh(h, `cd / && runuser -u postgres -- psql -X -A -t -c 'show ${name}'`)).trim()));
  }

  beforeAll(async () => {
    lab = await ensureLab();
    DATA = `/var/lib/postgresql/${lab.pg}/main`;
    tmp = mkdtempSync(join(tmpdir(), 'rigger-site-'));
    // Honest deploy timing needs bare hosts: when anything was installed, the lab is rebuilt.
    const used = await Promise.all(ALL.map(async (h) => ((await lab.ssh(h, 'test -e /var/lib/dpkg/info/etcd-server.list -o -e /var/lib/dpkg/info/haproxy.list -o -e /var/lib/dpkg/info/pgbackrest.list')).code === 0 ? h : null)));
    if (used.some((h) => h !== null)) {
      const inst = await resolveInstance(instanceName());
      const log = (m: string) => process.stderr.write(`lab: ${m}\n`);
      await labDown(inst!, log);
      // The kernel drops a stopped host's veth a few seconds after its container exits; booting
      // the host again before that fails ("Failed to add new veth interfaces ... File exists").
      await eventually(
        'the old hosts\' veth links to go away',
        async () => readdirSync('/sys/class/net').filter((n) => n.startsWith(`vb-${inst!.name}-`)),
        (left) => left.length === 0,
      );
      await labUp(inst!, log);
    }
  }, 1_800_000);

  afterAll(() => {
    if (timings.length) process.stdout.write(`\nsite on the lab:\n${timings.map((t) => `  ${t}`).join('\n')}\n`);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  let deploy: Run;

  it('--check on bare hosts plans the database roles and touches nothing', async () => {
    const plan = await rigger('playbooks/site.ts', ['--check', '--tags', 'etcd,postgres,patroni']);
    expect(plan.recap.ok, failures(plan)).toBe(true);
    const planned = plan.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}`);
    expect(planned).toContain('pg1: packages: etcd-server, etcd-client');
    expect(planned).toContain('pg1: patroni: /etc/patroni/patroni.yml');
    for (const h of ALL) expect((await lab.ssh(h, 'test -e /var/lib/dpkg/info/etcd-server.list -o -e /var/lib/dpkg/info/haproxy.list -o -e /etc/patroni/patroni.yml')).code, h).not.toBe(0);
  }, 600_000);

  it('deploys the whole stack from bare hosts', async () => {
    deploy = await rigger('playbooks/site.ts');
    expect(deploy.recap.ok, failures(deploy)).toBe(true);
    expect(deploy.code).toBe(0);
    for (const h of ALL) expect(deploy.recap.hosts[h]?.failed, h).toBe(0);
    timings.push(`full deploy from bare hosts: ${secs(deploy.wallMs)} (engine ${secs(deploy.recap.durationMs)})`);
  }, 1_800_000);

  it('etcd reports three healthy members', async () => {
    const health = JSON.parse(await sh('pg1', 'ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health --cluster -w json')) as Array<{ endpoint: string; health: boolean }>;
    expect(health.map((e) => e.endpoint).sort()).toEqual(DB.map((h) => `http://${lab.hosts[h]}:2379`).sort());
    expect(health.every((e) => e.health)).toBe(true);
    const members = JSON.parse(await sh('pg2', 'ETCDCTL_API=3 etcdctl member list -w json')) as { members: Array<{ name: string }> };
    expect(members.members.map((m) => m.name).sort()).toEqual(DB);
  });

  it('Patroni: one leader, one sync standby, one replica, running, same timeline, lag 0', async () => {
    const c = await eventually('a healthy cluster', () => cluster('pg2'), healthy);
    expect(c.members.map((m) => m.name).sort()).toEqual(DB);
  });

  it('writes through the VIP land on the primary, reads on 5001 on a replica (psql on backup1)', async () => {
    // The client for the check (backup1 has postgresql-common's psql wrapper only).
    await sh('backup1', `dpkg -s postgresql-client-${lab.pg} >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client-${lab.pg} >/dev/null`);
    const w = await eventually('a write through the VIP', () => viaVip(5000, "create table if not exists site_check(id serial primary key, note text); insert into site_check(note) values ('deploy'); select pg_is_in_recovery()"), (v) => v === 'f');
    expect(w).toBe('f');
    const r = await eventually('a read through the VIP on 5001', () => viaVip(5001, 'select pg_is_in_recovery()'), (v) => v === 't');
    expect(r).toBe('t');
  }, 300_000);

  it('pgBackRest: info shows a full backup and check passes', async () => {
    const info = JSON.parse(await sh('backup1', 'runuser -u pgbackrest -- pgbackrest --stanza=main --output=json info')) as Array<{ backup: Array<{ type: string }> }>;
    expect(info[0]!.backup.some((b) => b.type === 'full')).toBe(true);
    await sh('backup1', 'runuser -u pgbackrest -- pgbackrest --stanza=main check');
  }, 120_000);

  it('a second run changes nothing on any host and restarts nothing', async () => {
    const before = await processes();
    const again = await rigger('playbooks/site.ts');
    expect(again.recap.ok, failures(again)).toBe(true);
    const changed = again.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}: ${e.result.summary}`);
    expect(changed).toEqual([]);
    for (const h of ALL) expect(again.recap.hosts[h]?.changed, h).toBe(0);
    expect(await processes()).toEqual(before);
    timings.push(`no-op converge: ${secs(again.wallMs)} (engine ${secs(again.recap.durationMs)})`);
  }, 600_000);

  it('max_connections: --check --diff shows exactly that change and changes nothing; then a real run applies it', async () => {
    // A copy of the lab inventory with one DCS setting changed.
    const inv = join(tmp, 'inventory');
    cpSync(lab.inventoryDir, inv, { recursive: true });
    const gv = join(inv, 'group_vars', 'postgres.yml');
    writeFileSync(gv, `${readFileSync(gv, 'utf8').replace(/^patroni:\n/m, 'patroni:\n  dcs:\n    parameters:\n      max_connections: 250\n')}`);

    const check = await rigger('playbooks/site.ts', ['--check', '--diff'], inv);
    expect(check.recap.ok, failures(check)).toBe(true);
    const changed = check.events.filter((e) => e.result.status === 'changed');
    const byHost = (h: string) => changed.filter((e) => e.host === h).map((e) => e.task);
    for (const h of DB) expect(byHost(h).filter((t) => t !== 'patroni: cluster-wide settings (PATCH /config on the leader)'), h).toEqual(['patroni: /etc/patroni/patroni.yml']);
    for (const h of [...BALANCERS, 'backup1']) expect(byHost(h), h).toEqual([]);
    const dcs = changed.filter((e) => e.task === 'patroni: cluster-wide settings (PATCH /config on the leader)');
    expect(dcs.length).toBe(1);
    const leader = (await cluster('pg1')).members.find((m) => m.role === 'leader')!;
    expect(dcs[0]!.host).toBe(leader.name);
    for (const e of changed) {
      const edits = (e.result.diff ?? '').split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l));
      expect(edits.length, `${e.host} ${e.task}:\n${e.result.diff}`).toBe(2);
      expect(edits[0]).toMatch(/^-.*max_connections: 200$/);
      expect(edits[1]).toMatch(/^\+.*max_connections: 250$/);
      expect(e.result.diff).not.toContain(readFileSync(join(lab.secretsDir, 'pg-superuser'), 'utf8').trim());
    }
    // Nothing changed: not the files, not the DCS, not the running servers.
    for (const h of DB) expect(await sh(h, 'grep -c "max_connections: 200" /etc/patroni/patroni.yml')).toBe('1\n');
    expect(await showOnMembers('max_connections')).toEqual(['200', '200', '200']);

    const real = await rigger('playbooks/site.ts', [], inv);
    expect(real.recap.ok, failures(real)).toBe(true);
    expect(await showOnMembers('max_connections')).toEqual(['250', '250', '250']);
    await eventually('a healthy cluster after the rolling restart', () => cluster('pg1'), healthy);
    // One member (the leader) orchestrated the restarts; the others left it to it.
    const restarts = real.events.filter((e) => e.task.startsWith('patroni: restart members with pending_restart') && e.result.status === 'changed');
    expect(restarts.map((e) => e.host)).toEqual([leader.name]);
    expect(restarts[0]!.result.summary).toMatch(/^restarted PostgreSQL on (pg\d, ){2}pg\d$/);
  }, 900_000);

  it('failover drill: the leader host dies, a new leader takes writes through the VIP, the old one rejoins as a replica', async () => {
    const before = await cluster('pg1');
    const old: Member = before.members.find((m) => m.role === 'leader')!;
    const survivor = DB.find((h) => h !== old.name)!;
    const t0 = Date.now();
    await lab.fault('kill', old.name);
    try {
      await drill(old, survivor, t0);
    } finally {
      // Whatever happened, the next steps (and the next test files) get the host back.
      if (!lab.isRunning(old.name)) await lab.fault('start', old.name);
    }
  }, 900_000);

  async function drill(old: Member, survivor: string, t0: number): Promise<void> {
    const after = await eventually(
      'a new leader',
      () => cluster(survivor),
      (c) => c.members.some((m) => m.role === 'leader' && m.name !== old.name && m.state === 'running' && (m.timeline ?? 0) > (old.timeline ?? 0)),
      120_000,
    );
    const electedMs = Date.now() - t0;
    const fresh = after.members.find((m) => m.role === 'leader')!;
    const w = await eventually('a write through the VIP after the failover', () => viaVip(5000, "insert into site_check(note) values ('after failover'); select pg_is_in_recovery()"), (v) => v === 'f', 120_000);
    expect(w).toBe('f');
    const writableMs = Date.now() - t0;
    timings.push(`failover: new leader ${fresh.name} after ${secs(electedMs)}, writes through the VIP after ${secs(writableMs)} (leader ${old.name} killed)`);

    await lab.fault('start', old.name);
    const back = await eventually(
      `${old.name} back as a replica`,
      () => cluster(survivor),
      (c) => {
        const m = c.members.find((x) => x.name === old.name);
        return m !== undefined && m.role !== 'leader' && (m.state === 'running' || m.state === 'streaming') && m.timeline === fresh.timeline && m.lagBytes === 0;
      },
      300_000,
    );
    expect(back.members.find((m) => m.role === 'leader')!.name).toBe(fresh.name);
    // Killed mid-flight, the old leader had diverged: Patroni rewinds it rather than re-cloning.
    const journal = await sh(old.name, 'journalctl -u rigger-patroni --no-pager -o cat | grep -E "pg_rewind exit code|running pg_rewind from [a-z]" | tail -n 2 || true');
    expect(journal).toMatch(/pg_rewind exit code=0/);
    timings.push(`old leader ${old.name} rejoined as a replica on timeline ${fresh.timeline} after pg_rewind`);
    expect(await viaVip(5000, "select count(*) from site_check where note = 'after failover'")).toBe('1');
  }

  it('a converge run after the drill restores the inventory\'s settings', async () => {
    const run = await rigger('playbooks/site.ts');
    expect(run.recap.ok, failures(run)).toBe(true);
    expect(await showOnMembers('max_connections')).toEqual(['200', '200', '200']);
    await eventually('a healthy cluster', () => cluster('pg1'), healthy, 120_000);
  }, 900_000);
});
