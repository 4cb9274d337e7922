/**
 * A second topology, as most 3-node deployments look: HAProxy + keepalived on the database
 * hosts (pg1-pg3 in postgres and balancers, the VIP moving between them), etcd on three hosts
 * of its own, a backup host. On its own lab instance (`topo`, brought up here from bare hosts
 * and down at the end, so two labs never stay up), one deployed cluster for every scenario:
 * site.ts from bare hosts, a second run that changes and restarts nothing, upgrade.ts and
 * switchover.ts under write load through the VIP and read load on 5001, enroll.ts of a fourth
 * database + balancer host, and remove.ts of it under the same load. Prints the figures.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCluster, type ClusterState } from '../../roles/patroni/live.ts';
import { mergeStates, routedTo } from '../../roles/haproxy/live.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { publishNewer, unpublish } from '../support/newer-package.ts';
import { eventually, failures, rigger, secs, sleep, type Run } from '../support/rigger-cli.ts';
import { startLoad, type LoadReport } from '../support/write-load.ts';

const skip = labSkipReason();
const INSTANCE = 'topo';
const DB = ['pg1', 'pg2', 'pg3'];
const ETCD = ['etcd1', 'etcd2', 'etcd3'];
/** The data directory of the lab's PostgreSQL (15 on Debian 12, 17 on 13): set once the lab is up. */
let DATA = '';
const ROLL_TASK = 'rollout: this member (drain, checkpoint, upgrade, restart, back in the pool)';

describe.skipIf(skip !== null)(`colocated topology (balancers on the database hosts, etcd alone)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  let tmp: string;
  const t0 = Date.now();
  const figures: string[] = [];
  const run = (playbook: string, extra: string[] = []): Promise<Run> => rigger(playbook, lab.inventoryDir, tmp, extra);

  /** Through nsenter: independent of the host's network. */
  async function inside(host: string, cmd: string): Promise<string> {
    const r = await lab.exec(host, cmd);
    if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  }

  async function cluster(host: string): Promise<ClusterState> {
    return parseCluster(JSON.parse(await inside(host, 'curl -sS --max-time 5 http://127.0.0.1:8008/cluster')));
  }

  const leaderOf = (c: ClusterState) => c.members.find((m) => m.role === 'leader')!.name;

  /** Every member's own Patroni reports the same healthy cluster: one leader, a sync standby, no lag. */
  async function settled(what: string, timeoutMs: number, names = DB): Promise<ClusterState> {
    const healthy = (c: ClusterState) =>
      c.members.length === names.length &&
      c.members.every((m) => (m.state === 'running' || m.state === 'streaming') && m.timeline !== null && m.timeline === c.members[0]!.timeline) &&
      c.members.filter((m) => m.role !== 'leader').every((m) => m.lagBytes === 0) &&
      c.members.filter((m) => m.role === 'leader').length === 1 &&
      c.members.some((m) => m.role === 'sync_standby');
    const shape = (c: ClusterState) => JSON.stringify(c.members.map((m) => [m.name, m.role]).sort());
    const views = await eventually(what, () => Promise.all(names.map((h) => cluster(h))), (vs) => vs.every((c) => healthy(c) && shape(c) === shape(vs[0]!)), timeoutMs);
    return views[0]!;
  }

  /** Main PIDs of every long-running unit, and the postmasters. */
  async function processes(db = DB): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const units: Array<[string, string[]]> = [...db.map((h): [string, string[]] => [h, ['rigger-patroni', 'haproxy', 'keepalived']]), ...ETCD.map((h): [string, string[]] => [h, ['etcd']])];
    for (const [host, list] of units) for (const u of list) out[`${host} ${u}`] = await inside(host, `systemctl show -p MainPID --value ${u}`);
    for (const h of db) out[`${h} postmaster`] = (await inside(h, `head -n 1 ${DATA}/postmaster.pid`)).trim();
    return out;
  }

  async function postmasterStarts(hosts = DB): Promise<Record<string, { pid: number; start: number }>> {
    const out: Record<string, { pid: number; start: number }> = {};
    for (const h of hosts) {
      const [pid = '0', , start = '0'] = (await inside(h, `head -n 3 ${DATA}/postmaster.pid`)).split('\n');
      out[h] = { pid: Number(pid), start: Number(start) };
    }
    return out;
  }

  /** The database hosts that hold the virtual IP right now. */
  async function vipHolders(hosts = DB): Promise<string[]> {
    const out: string[] = [];
    for (const h of hosts) if ((await lab.exec(h, `ip -o -4 addr show | grep -qw ${lab.vip.replace(/\./g, '\\.')}`)).code === 0) out.push(h);
    return out;
  }

  async function readPool(lb: string): Promise<string[]> {
    const states = await inside(lb, `echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock; echo @@; echo 'show servers state' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`);
    const [stat = '', state = ''] = states.split('@@\n');
    return routedTo(mergeStates(stat, state), 'postgres_replicas').sort();
  }

  async function writeRoute(lb: string): Promise<string[]> {
    const states = await inside(lb, `echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock; echo @@; echo 'show servers state' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`);
    const [stat = '', state = ''] = states.split('@@\n');
    return routedTo(mergeStates(stat, state), 'postgres_primary');
  }

  const password = () => readFileSync(join(lab.secretsDir, 'pg-superuser'), 'utf8').trim();
  const load = (table: string) => startLoad({ host: lab.vip, user: 'postgres', password: password(), table });

  function expectNoLoss(report: LoadReport): void {
    expect(report.acknowledged).toBeGreaterThan(50);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    expect(report.reads.failed, report.reads.failures.map((f) => f.message).join('\n')).toBe(0);
    expect(report.reads.ok).toBeGreaterThan(20);
  }

  const loadFigures = (r: LoadReport) =>
    `${r.acknowledged} writes through the VIP acknowledged, ${r.missing.length} lost, longest write gap ${r.longestWriteGapMs.toFixed(0)} ms; ${r.reads.ok} reads on 5001, ${r.reads.failed} failed`;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rigger-topo-'));
    lab = await ensureLab({ instance: INSTANCE, topology: 'colocated' });
    DATA = `/var/lib/postgresql/${lab.pg}/main`;
    // From bare hosts: an instance left deployed (a run stopped halfway, a developer's) is made anew.
    if (lab.hosts['pg4'] || (await lab.exec('pg1', 'test -e /etc/patroni/patroni.yml')).code === 0) {
      await lab.down();
      lab = await ensureLab({ instance: INSTANCE, topology: 'colocated' });
    DATA = `/var/lib/postgresql/${lab.pg}/main`;
    }
    figures.push(`lab ${INSTANCE} up (7 hosts, from bare): ${secs(Date.now() - t0)}`);
  }, 600_000);

  afterAll(async () => {
    if (lab) await unpublish(lab, DB).catch(() => undefined);
    if (lab) await lab.down();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    figures.push(`the whole file, lab up to down: ${secs(Date.now() - t0)}`);
    process.stdout.write(`\ncolocated topology (instance ${INSTANCE}):\n${figures.map((t) => `  ${t}`).join('\n')}\n`);
  }, 300_000);

  it('site.ts from bare hosts: etcd on its own three, a healthy cluster, HAProxy routing on every database host, the VIP on exactly one', async () => {
    const site = await run('playbooks/site.ts');
    expect(site.recap.ok, failures(site)).toBe(true);
    expect(site.code).toBe(0);
    const c = await settled('a healthy cluster after site.ts', 180_000);
    const leader = leaderOf(c);
    const members = JSON.parse(await inside('etcd1', 'ETCDCTL_API=3 etcdctl member list -w json')) as { members: Array<{ name: string }> };
    expect(members.members.map((m) => m.name).sort()).toEqual(ETCD);
    for (const h of DB) expect(await inside(h, 'systemctl is-active etcd || true'), `${h} runs no etcd`).not.toBe('active');
    // Every balancer routes writes to the leader and reads to both replicas.
    for (const lb of DB) {
      await eventually(`${lb} routes writes to ${leader}`, () => writeRoute(lb), (r) => r.length === 1 && r[0] === leader, 60_000);
      await eventually(`${lb} routes reads to the replicas`, () => readPool(lb), (r) => JSON.stringify(r) === JSON.stringify(DB.filter((h) => h !== leader)), 60_000);
    }
    expect(await eventually('one VIP holder', () => vipHolders(), (v) => v.length === 1, 30_000)).toHaveLength(1);
    for (const h of [...DB, ...ETCD, 'backup1']) expect(await inside(h, "dpkg-query -W -f '${Status}' chrony"), `${h} chrony`).toBe('install ok installed');
    figures.push(`site.ts from bare hosts: ${secs(site.wallMs)} wall (engine ${secs(site.recap.durationMs)}); leader ${leader}, VIP on ${(await vipHolders()).join('')}`);
  }, 900_000);

  it('a second site.ts run changes nothing and restarts nothing', async () => {
    const before = await processes();
    const again = await run('playbooks/site.ts');
    expect(again.recap.ok, failures(again)).toBe(true);
    expect(again.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}: ${e.result.summary}`)).toEqual([]);
    for (const [h, r] of Object.entries(again.recap.hosts)) expect(r.changed, h).toBe(0);
    expect(await processes()).toEqual(before);
    figures.push(`site.ts again, nothing to do: ${secs(again.wallMs)} wall (engine ${secs(again.recap.durationMs)})`);
  }, 300_000);

  it('upgrade.ts under write and read load: every member upgraded, the leader last; the balancers on the same hosts keep routing; no write lost, no read failed', async () => {
    const offer = await publishNewer(lab, DB, `postgresql-${lab.pg}`);
    const before = await postmasterStarts();
    const oldLeader = leaderOf(await cluster('pg1'));
    const l = load('rigger_load_topo_upgrade');
    let report: LoadReport;
    let upgrade: Run;
    try {
      await l.waitForAcks(50, 60_000);
      upgrade = await run('playbooks/upgrade.ts');
      await sleep(2000);
    } finally {
      report = await l.stop({ dropTable: true });
    }
    expect(upgrade.recap.ok, failures(upgrade)).toBe(true);
    for (const h of DB) expect(await inside(h, `dpkg-query -W -f '\${Version}' postgresql-${lab.pg}`), h).toBe(offer.to);
    const after = await postmasterStarts();
    for (const h of DB) expect(after[h]!.pid, `${h} restarted`).not.toBe(before[h]!.pid);
    const rolled = upgrade.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
    expect(rolled).toHaveLength(3);
    expect(rolled[2], 'the leader last').toBe(oldLeader);
    expectNoLoss(report);
    const c = await settled('a healthy cluster after the upgrade', 180_000);
    expect(leaderOf(c)).not.toBe(oldLeader);
    expect(await vipHolders()).toHaveLength(1);
    figures.push(`upgrade.ts (${offer.from} -> ${offer.to}): ${secs(upgrade.wallMs)} wall; leader ${oldLeader} -> ${leaderOf(c)}; ${loadFigures(report)}`);
  }, 1_200_000);

  it('switchover.ts under write and read load: the synchronous standby leads, writes through the VIP land on it; no write lost, no read failed', async () => {
    const c0 = await cluster('pg1');
    const from = leaderOf(c0);
    const to = c0.members.find((m) => m.role === 'sync_standby')!.name;
    const l = load('rigger_load_topo_switchover');
    let report: LoadReport;
    let s: Run;
    try {
      await l.waitForAcks(50, 60_000);
      s = await run('playbooks/switchover.ts');
      await sleep(2000);
    } finally {
      report = await l.stop({ dropTable: true });
    }
    expect(s.recap.ok, failures(s)).toBe(true);
    const c = await settled('a healthy cluster after the switchover', 120_000);
    expect(leaderOf(c)).toBe(to);
    expectNoLoss(report);
    expect(report.servers, 'writes landed on the old and the new leader').toEqual([lab.hosts[from], lab.hosts[to]].sort());
    for (const lb of DB) await eventually(`${lb} routes writes to ${to}`, () => writeRoute(lb), (r) => r.length === 1 && r[0] === to, 30_000);
    figures.push(`switchover.ts ${from} -> ${to}: ${secs(s.wallMs)} wall; ${loadFigures(report)}`);
  }, 600_000);

  it('enroll.ts -l pg4 (postgres + balancers): streaming, in every balancer\'s read pool, keepalived a VIP candidate, chrony installed; nothing else restarted', async () => {
    await lab.add('pg4', ['postgres', 'balancers']);
    const before = await processes();
    const e = await run('playbooks/enroll.ts', ['-l', 'pg4']);
    expect(e.recap.ok, failures(e)).toBe(true);
    const all = [...DB, 'pg4'];
    const c = await settled('pg4 in a healthy cluster', 300_000, all);
    const leader = leaderOf(c);
    const link = await inside(leader, `cd / && runuser -u postgres -- psql -X -A -t -c "select state from pg_stat_replication where application_name = 'pg4'"`);
    expect(link).toBe('streaming');
    for (const lb of all) await eventually(`${lb} reads pool has pg4`, () => readPool(lb), (r) => r.includes('pg4'), 60_000);
    // pg4's HAProxy routes writes like the others.
    await eventually('pg4 routes writes to the leader', () => writeRoute('pg4'), (r) => r.length === 1 && r[0] === leader, 60_000);
    // A VIP candidate: keepalived runs with the VIP, in BACKUP, at a priority of its own.
    expect(await inside('pg4', 'systemctl is-active keepalived')).toBe('active');
    const conf = await inside('pg4', 'cat /etc/keepalived/keepalived.conf');
    expect(conf).toContain(`${lab.vip}/24`);
    const prio = async (h: string) => Number(/priority (\d+)/.exec(await inside(h, 'cat /etc/keepalived/keepalived.conf'))![1]);
    const prios = await Promise.all(all.map(prio));
    expect(new Set(prios).size, `priorities ${prios.join(', ')}`).toBe(4);
    await eventually('pg4 keepalived in BACKUP', () => inside('pg4', 'journalctl -u keepalived --no-pager -o cat | grep -c "Entering BACKUP STATE" || true'), (n) => Number(n) > 0, 30_000);
    expect(await vipHolders(all)).toHaveLength(1);
    expect(await inside('pg4', "dpkg-query -W -f '${Status}' chrony")).toBe('install ok installed');
    // Reloads only: the same main PIDs everywhere else.
    expect(await processes()).toEqual(before);
    figures.push(`enroll.ts -l pg4 (postgres + balancers): ${secs(e.wallMs)} wall`);
  }, 1_200_000);

  it('remove.ts -l pg4 under write and read load: no write lost, no read failed; pg4 gone from Patroni, etcd, every HAProxy and keepalived config, its keepalived and HAProxy stopped', async () => {
    const addr = lab.hosts['pg4']!;
    const l = load('rigger_load_topo_remove');
    let report: LoadReport;
    let r: Run;
    try {
      await l.waitForAcks(50, 60_000);
      r = await run('playbooks/remove.ts', ['-l', 'pg4']);
      await sleep(2000);
    } finally {
      report = await l.stop({ dropTable: true });
    }
    expect(r.recap.ok, failures(r)).toBe(true);
    expectNoLoss(report);
    const c = await settled('pg1-pg3 healthy without pg4', 120_000);
    expect(c.members.map((m) => m.name).sort()).toEqual(DB);
    for (const lb of DB) {
      expect(await inside(lb, 'cat /etc/haproxy/haproxy.cfg /etc/keepalived/keepalived.conf'), `${lb} configs`).not.toMatch(new RegExp(`\\bpg4\\b|${addr.replace(/\./g, '\\.')}\\b`));
      expect((await inside(lb, "echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock")).split('\n').some((x) => x.split(',')[1] === 'pg4'), `${lb} HAProxy still lists pg4`).toBe(false);
    }
    expect(await inside('pg4', 'systemctl is-active keepalived haproxy rigger-patroni || true')).toBe('inactive\ninactive\ninactive');
    expect(await vipHolders()).toHaveLength(1);
    expect(await vipHolders(['pg4'])).toEqual([]);
    const members = JSON.parse(await inside('etcd1', 'ETCDCTL_API=3 etcdctl member list -w json')) as { members: Array<{ name: string }> };
    expect(members.members.map((m) => m.name).sort()).toEqual(ETCD);
    figures.push(`remove.ts -l pg4 (postgres + balancers): ${secs(r.wallMs)} wall; ${loadFigures(report)}`);
  }, 900_000);
});
