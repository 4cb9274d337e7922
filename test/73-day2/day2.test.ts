/**
 * Day 2 on the lab, through the CLI: a rolling minor upgrade of PostgreSQL under write and
 * read load (no acknowledged write lost, no failed read, the leader last, the longest write
 * gap measured), a second run that changes nothing, a planned switchover, a failover drill,
 * a partitioned replica stopping a rollout at its gate while the cluster keeps serving, and a
 * new member enrolled without restarting anything else. Prints the figures.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlConfigString, parseCluster, type ClusterState } from '../../roles/patroni/live.ts';
import { adminFromBits, mergeStates, parseServersState, routedTo, type AdminState } from '../../roles/haproxy/live.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { publishNewer, unpublish } from '../support/newer-package.ts';
import { eventually, failures, readEvents, rigger, secs, sleep, type Run } from '../support/rigger-cli.ts';
import { startLoad, type LoadReport } from '../support/write-load.ts';

const skip = labSkipReason();
const DB = ['pg1', 'pg2', 'pg3'];
const BALANCERS = ['lb1', 'lb2'];
/** The data directory of the lab's PostgreSQL (15 on Debian 12, 17 on 13): set once the lab is up. */
let DATA = '';
const ROLL_TASK = 'rollout: this member (drain, checkpoint, upgrade, restart, back in the pool)';

describe.skipIf(skip !== null)(`day-2 playbooks on the lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  let tmp: string;
  const figures: string[] = [];
  const run = (playbook: string, extra: string[] = [], onStart?: (events: string, child: ChildProcess) => void): Promise<Run> => rigger(playbook, lab.inventoryDir, tmp, extra, onStart);

  /** Through nsenter: works on a partitioned host too. */
  async function inside(host: string, cmd: string): Promise<string> {
    const r = await lab.exec(host, cmd);
    if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  }

  async function cluster(host: string): Promise<ClusterState> {
    return parseCluster(JSON.parse(await inside(host, 'curl -sS --max-time 5 http://127.0.0.1:8008/cluster')));
  }

  const healthy = (c: ClusterState, names = DB) =>
    c.members.length === names.length &&
    c.members.every((m) => (m.state === 'running' || m.state === 'streaming') && m.timeline !== null && m.timeline === c.members[0]!.timeline) &&
    c.members.filter((m) => m.role !== 'leader').every((m) => m.lagBytes === 0) &&
    c.members.filter((m) => m.role === 'leader').length === 1 &&
    c.members.some((m) => m.role === 'sync_standby');

  const leaderOf = (c: ClusterState) => c.members.find((m) => m.role === 'leader')!.name;

  /**
   * Waits until every member's own Patroni reports the same healthy cluster. One member's view
   * is not enough after a fault: a host just healed from a partition answers from its cache of
   * the DCS, still listing itself although its member key expired while it was cut off.
   */
  async function settled(what: string, timeoutMs: number, names = DB, also: (c: ClusterState) => boolean = () => true): Promise<ClusterState> {
    const shape = (c: ClusterState) => JSON.stringify(c.members.map((m) => [m.name, m.role]).sort());
    const views = await eventually(
      what,
      () => Promise.all(names.map((h) => cluster(h))),
      (vs) => vs.every((c) => healthy(c, names) && also(c) && shape(c) === shape(vs[0]!)),
      timeoutMs,
    );
    return views[0]!;
  }

  /** postmaster PID and start time (postmaster.pid lines 1 and 3) per member. */
  async function postmasters(hosts = DB): Promise<Record<string, { pid: number; start: number }>> {
    const out: Record<string, { pid: number; start: number }> = {};
    for (const h of hosts) {
      const [pid = '0', , start = '0'] = (await inside(h, `head -n 3 ${DATA}/postmaster.pid`)).split('\n');
      out[h] = { pid: Number(pid), start: Number(start) };
    }
    return out;
  }

  /** Main PIDs of the units that must not restart, plus the postmasters. */
  async function processes(db = DB): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const units: Record<string, string[]> = Object.fromEntries([...db.map((h) => [h, ['etcd', 'rigger-patroni']]), ...BALANCERS.map((h) => [h, ['haproxy', 'keepalived']])]);
    for (const [host, list] of Object.entries(units)) for (const u of list) out[`${host} ${u}`] = await inside(host, `systemctl show -p MainPID --value ${u}`);
    for (const [h, p] of Object.entries(await postmasters(db))) out[`${h} postmaster`] = String(p.pid);
    return out;
  }

  const password = () => readFileSync(join(lab.secretsDir, 'pg-superuser'), 'utf8').trim();

  /** One write through the VIP, from backup1's psql; resolves with the server that took it. */
  async function writeViaVip(): Promise<string> {
    const r = await lab.ssh(
      'backup1',
      `IFS= read -r PGPASSWORD; export PGPASSWORD PGCONNECT_TIMEOUT=3; psql -X -q -A -t -h ${lab.vip} -p 5000 -U postgres -d postgres -v ON_ERROR_STOP=1 -c "select host(inet_server_addr()), txid_current()"`,
      { timeoutMs: 15_000, input: `${password()}\n` },
    );
    if (r.code !== 0) throw new Error(r.stderr || r.stdout);
    return r.stdout.trim().split('|')[0]!;
  }

  async function readPool(lb: string): Promise<string[]> {
    const states = await inside(lb, `echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock; echo @@; echo 'show servers state' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`);
    const [stat = '', state = ''] = states.split('@@\n');
    return routedTo(mergeStates(stat, state), 'postgres_replicas').sort();
  }

  /** A server's admin state in one backend of a balancer's HAProxy. */
  async function adminState(lb: string, backend: string, server: string): Promise<AdminState> {
    const bits = parseServersState(await inside(lb, `echo 'show servers state ${backend}' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock`)).get(`${backend}/${server}`);
    if (bits === undefined) throw new Error(`${lb}: no ${backend}/${server}`);
    return adminFromBits(bits);
  }

  async function installedVersion(host: string): Promise<string> {
    return inside(host, `dpkg-query -W -f '\${Version}' postgresql-${lab.pg}`);
  }

  beforeAll(async () => {
    lab = await ensureLab();
    DATA = `/var/lib/postgresql/${lab.pg}/main`;
    tmp = mkdtempSync(join(tmpdir(), 'rigger-day2-'));
    // On its own (not after the site tests), this file deploys the stack first; a pg4 left by
    // an earlier run of it leaves etcd and the lab, and the others converge without it.
    let converge = (await lab.exec('pg1', 'test -e /etc/patroni/patroni.yml')).code !== 0;
    if (lab.hosts['pg4']) {
      const line = (await inside('pg1', 'ETCDCTL_API=3 etcdctl member list')).split('\n').find((l) => l.includes(', pg4, '));
      if (line) await inside('pg1', `ETCDCTL_API=3 etcdctl member remove ${line.split(',')[0]}`);
      await lab.remove('pg4');
      converge = true;
    }
    if (converge) {
      const site = await run('playbooks/site.ts');
      if (!site.recap.ok) throw new Error(`site.ts failed: ${failures(site)}`);
    }
    await settled('a healthy cluster', 180_000);
    // The client for writes through the VIP (backup1 has postgresql-common's psql wrapper only).
    await inside('backup1', `dpkg -s postgresql-client-${lab.pg} >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client-${lab.pg} >/dev/null`);
  }, 1_800_000);

  afterAll(async () => {
    if (figures.length) process.stdout.write(`\nday 2 on the lab:\n${figures.map((t) => `  ${t}`).join('\n')}\n`);
    if (lab) await unpublish(lab, DB).catch(() => undefined);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('upgrade.ts under write and read load: PostgreSQL upgraded everywhere, leader last, no acknowledged write lost, no failed read', async () => {
    const offer = await publishNewer(lab, DB, `postgresql-${lab.pg}`);
    const before = await postmasters();
    const oldLeader = leaderOf(await cluster('pg1'));
    const load = startLoad({ host: lab.vip, user: 'postgres', password: password(), table: 'rigger_load_upgrade' });
    let report: LoadReport;
    let upgrade: Run;
    try {
      await load.waitForAcks(50, 60_000);
      upgrade = await run('playbooks/upgrade.ts');
      await sleep(2000); // a little load after the rollout too
    } finally {
      report = await load.stop({ dropTable: true });
    }
    expect(upgrade.recap.ok, failures(upgrade)).toBe(true);
    expect(upgrade.code).toBe(0);

    for (const h of DB) expect(await installedVersion(h), h).toBe(offer.to);
    // Every member restarted; the old leader's PostgreSQL (demoted at the switchover) last.
    const after = await postmasters();
    for (const h of DB) expect(after[h]!.pid, `${h} restarted`).not.toBe(before[h]!.pid);
    const others = DB.filter((h) => h !== oldLeader);
    for (const h of others) expect(after[oldLeader]!.start, `${oldLeader} (old leader) after ${h}`).toBeGreaterThanOrEqual(after[h]!.start);
    const rolled = upgrade.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
    expect(rolled).toHaveLength(3);
    expect(rolled[2]).toBe(oldLeader);
    expect(upgrade.events.find((e) => e.host === oldLeader && e.task === ROLL_TASK)?.result.summary).toMatch(/^switched over to pg\d/);

    expect(report.acknowledged).toBeGreaterThan(100);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    expect(report.reads.failed, report.reads.failures.map((f) => f.message).join('\n')).toBe(0);
    expect(report.reads.ok).toBeGreaterThan(50);
    expect(report.servers.length, 'writes landed on the old and the new leader').toBe(2);
    const c = await settled('a healthy cluster after the upgrade', 120_000);
    expect(leaderOf(c)).not.toBe(oldLeader);
    figures.push(
      `upgrade.ts (${offer.from} -> ${offer.to}) under load: ${secs(upgrade.wallMs)} wall (engine ${secs(upgrade.recap.durationMs)}); ` +
        `${report.acknowledged} writes acknowledged, 0 lost; longest write gap ${report.longestWriteGapMs.toFixed(0)} ms; ` +
        `${report.reads.ok} reads on 5001, ${report.reads.failed} failed; leader ${oldLeader} -> ${leaderOf(c)}`,
    );
  }, 900_000);

  it('a second upgrade.ts run changes nothing and restarts nothing', async () => {
    const before = await processes();
    const again = await run('playbooks/upgrade.ts');
    expect(again.recap.ok, failures(again)).toBe(true);
    expect(again.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}: ${e.result.summary}`)).toEqual([]);
    for (const h of DB) expect(again.recap.hosts[h]?.changed, h).toBe(0);
    expect(await processes()).toEqual(before);
    figures.push(`upgrade.ts with nothing to do: ${secs(again.wallMs)} wall (engine ${secs(again.recap.durationMs)}, package lists refreshed)`);
  }, 600_000);

  /** Watches every member's state (as the first answering member reports it) until stopped: what was ever seen. */
  function watchStates(): { stop(): Promise<Set<string>> } {
    const seen = new Set<string>();
    let on = true;
    const loop = (async () => {
      while (on) {
        for (const h of DB) {
          const c = await cluster(h).catch(() => null);
          if (!c) continue;
          for (const m of c.members) seen.add(`${m.name} ${m.state}`);
          break;
        }
        await sleep(500);
      }
    })();
    return {
      async stop() {
        on = false;
        await loop;
        return seen;
      },
    };
  }

  const maxConnections = (h: string) => inside(h, "cd / && runuser -u postgres -- psql -X -A -t -c 'show max_connections'");

  it('max_connections raised and lowered through site.ts and upgrade.ts under load: raises go replicas first, lowers the leader first; no standby crashes, no write lost, no failed read', async () => {
    const c0 = await settled('a healthy cluster', 120_000);
    const leader = leaderOf(c0);
    const replicas = DB.filter((h) => h !== leader);
    const apiPassword = readFileSync(join(lab.secretsDir, 'patroni-api'), 'utf8').trim();
    const load = startLoad({ host: lab.vip, user: 'postgres', password: password(), table: 'rigger_load_limits' });
    const states = watchStates();
    const steps: string[] = [];
    let report: LoadReport;
    let seen: Set<string>;
    try {
      await load.waitForAcks(50, 60_000);

      // 1. Raised through site.ts (-e): the replicas restart before the leader.
      let before = await postmasters();
      const raise = await run('playbooks/site.ts', ['-e', 'patroni.dcs.parameters.max_connections=300']);
      expect(raise.recap.ok, failures(raise)).toBe(true);
      let after = await postmasters();
      for (const h of DB) expect(after[h]!.pid, `${h} restarted for the raise`).not.toBe(before[h]!.pid);
      for (const h of replicas) expect(after[leader]!.start, `leader after ${h} when raising`).toBeGreaterThanOrEqual(after[h]!.start);
      for (const h of DB) expect(await maxConnections(h), h).toBe('300');
      await settled('a healthy cluster after the raise', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
      steps.push(`site.ts raise 200 -> 300 ${secs(raise.wallMs)}`);

      // 2. Lowered in the DCS by hand (patronictl edit-config), rolled by upgrade.ts: the leader first, in place.
      const editConfig = async (on: string, value: number) => {
        const patch = await lab.ssh(on, 'curl -sS -K -', {
          input: [
            'url = "http://127.0.0.1:8008/config"',
            'request = "PATCH"',
            `user = ${curlConfigString(`patroni:${apiPassword}`)}`,
            'header = "Content-Type: application/json"',
            `data = ${curlConfigString(JSON.stringify({ postgresql: { parameters: { max_connections: value } } }))}`,
            'write-out = "%{http_code}"',
            '',
          ].join('\n'),
          timeoutMs: 30_000,
        });
        expect(patch.stdout.trim().slice(-3), patch.stdout + patch.stderr).toBe('200');
        await eventually('every member to report pending_restart', () => cluster(on), (c) => c.members.every((m) => m.pendingRestart), 60_000);
      };
      await editConfig(leader, 250);
      const down = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false']);
      expect(down.recap.ok, failures(down)).toBe(true);
      const lowered = down.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
      expect([...lowered].sort()).toEqual(DB);
      expect(lowered[0], 'a lowering: the leader first').toBe(leader);
      for (const h of DB) expect(await maxConnections(h), h).toBe('250');
      const c1 = await settled('a healthy cluster after the rolled lowering', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
      expect(leaderOf(c1), 'no switchover: the leader restarted in place').toBe(leader);
      steps.push(`upgrade.ts lower 300 -> 250 (${lowered.join(', ')}) ${secs(down.wallMs)}`);

      // 3. Raised in the DCS by hand, rolled by upgrade.ts: replicas first, the leader last.
      await editConfig(leader, 350);
      const up = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false']);
      expect(up.recap.ok, failures(up)).toBe(true);
      const rolled = up.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
      expect([...rolled].sort()).toEqual(DB);
      expect(rolled[rolled.length - 1], 'a raise: the leader last').toBe(leader);
      for (const h of DB) expect(await maxConnections(h), h).toBe('350');
      const c2 = await settled('a healthy cluster after the rolled raise', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
      steps.push(`upgrade.ts raise 250 -> 350 (${rolled.join(', ')}) ${secs(up.wallMs)}`);

      // 4. Lowered through site.ts (the inventory's 200): the leader restarts first, in place.
      const lead2 = leaderOf(c2);
      before = await postmasters();
      const lower = await run('playbooks/site.ts');
      expect(lower.recap.ok, failures(lower)).toBe(true);
      after = await postmasters();
      for (const h of DB) expect(after[h]!.pid, `${h} restarted for the lowering`).not.toBe(before[h]!.pid);
      for (const h of DB.filter((x) => x !== lead2)) expect(after[h]!.start, `${h} after the leader when lowering`).toBeGreaterThanOrEqual(after[lead2]!.start);
      for (const h of DB) expect(await maxConnections(h), h).toBe('200');
      await settled('a healthy cluster after the lowering', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
      steps.push(`site.ts lower 350 -> 200 ${secs(lower.wallMs)}`);
    } finally {
      seen = await states.stop();
      report = await load.stop({ dropTable: true });
    }
    const bad = [...seen].filter((s) => /crashed|start failed/.test(s));
    expect(bad, `member states seen: ${[...seen].sort().join(', ')}`).toEqual([]);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    expect(report.acknowledged).toBeGreaterThan(100);
    // site.ts drains each replica from the read pool before restarting it, as upgrade.ts does.
    expect(report.reads.failed, report.reads.failures.map((f) => f.message).join('\n')).toBe(0);
    figures.push(
      `max_connections under load: ${steps.join('; ')}; ${report.acknowledged} writes, 0 lost, longest gap ${report.longestWriteGapMs.toFixed(0)} ms; ` +
        `${report.reads.ok} reads, ${report.reads.failed} failed; member states seen: ${[...new Set([...seen].map((x) => x.split(' ').slice(1).join(' ')))].sort().join(', ')}`,
    );
  }, 900_000);

  /** Starts `playbook`, SIGKILLs it the moment `caught()` holds (polled), and waits for it to exit. */
  async function killWhen(playbook: string, caught: () => Promise<string | null>, timeoutMs: number): Promise<{ what: string; run: Run }> {
    let what = '';
    let child: ChildProcess | undefined;
    // --break-lock: the run before may be one this test SIGKILLed; its run lock is not stale yet.
    const running = run(playbook, ['-e', 'rollout.refreshPackageLists=false', '--break-lock'], (_e, c) => (child = c)).catch((e: unknown) => ({ killed: String(e) }));
    const end = Date.now() + timeoutMs;
    while (!what && Date.now() < end) {
      what = (await caught().catch(() => null)) ?? '';
      if (!what) await sleep(100);
    }
    child?.kill('SIGKILL');
    const r = await running;
    if (!what) throw new Error(`${playbook}: never saw the moment to kill it`);
    return { what, run: r as Run };
  }

  /** The member drained in the read pool on lb1, or null. */
  async function drainedOnLb1(): Promise<string | null> {
    for (const h of DB) if ((await adminState('lb1', 'postgres_replicas', h)) === 'drain') return h;
    return null;
  }

  const undoFiles = (h: string) => inside(h, 'ls /var/lib/rigger/undo 2>/dev/null || true');

  it('a rollout killed with SIGKILL: the drain and the nosync tag it left are named by status.ts and put back by the next run', async () => {
    const apiPassword = readFileSync(join(lab.secretsDir, 'patroni-api'), 'utf8').trim();
    // Work for a rollout: a raised setting every member must restart for (as patronictl edit-config would).
    const pendingWork = async () => {
      const leader = leaderOf(await settled('a healthy cluster', 180_000));
      const patch = await lab.ssh(leader, 'curl -sS -K -', {
        input: ['url = "http://127.0.0.1:8008/config"', 'request = "PATCH"', `user = ${curlConfigString(`patroni:${apiPassword}`)}`, 'header = "Content-Type: application/json"',
          `data = ${curlConfigString(JSON.stringify({ postgresql: { parameters: { max_connections: 220 } } }))}`, 'write-out = "%{http_code}"', ''].join('\n'),
        timeoutMs: 30_000,
      });
      expect(patch.stdout.trim().slice(-3)).toBe('200');
      await eventually('every member to report pending_restart', () => cluster(leader), (c) => c.members.every((m) => m.pendingRestart), 60_000);
    };
    await pendingWork();

    // 1. Killed while the first replica is drained.
    const k1 = await killWhen('playbooks/upgrade.ts', drainedOnLb1, 300_000);
    const drained = k1.what;
    for (const lb of BALANCERS) expect(await adminState(lb, 'postgres_replicas', drained), `${lb} keeps ${drained} drained after the kill`).toBe('drain');
    expect(await undoFiles('lb1')).toContain(`postgres_replicas_${drained}`);
    const status = await run('playbooks/status.ts');
    expect(status.recap.hosts['lb1']?.warnings.join('\n')).toMatch(new RegExp(`an interrupted run left: ${drained} in DRAIN in postgres_replicas on lb1`));
    expect(await adminState('lb1', 'postgres_replicas', drained), 'status.ts only reports').toBe('drain');
    await settled('a healthy cluster after the first kill', 180_000);
    // site.ts puts the drain back before anything else (the dead run's lock taken with --break-lock).
    const siteHeal = await run('playbooks/site.ts', ['--break-lock']);
    expect(siteHeal.recap.ok, failures(siteHeal)).toBe(true);
    const siteWarned = Object.values(siteHeal.recap.hosts).flatMap((h) => h.warnings).join('\n');
    for (const lb of BALANCERS) expect(siteWarned).toMatch(new RegExp(`put back what an interrupted run left: ${drained} in DRAIN in postgres_replicas on ${lb}`));
    for (const lb of BALANCERS) expect(await adminState(lb, 'postgres_replicas', drained), lb).toBe('ready');
    for (const h of BALANCERS) expect(await undoFiles(h), h).toBe('');
    // (site.ts set the inventory's max_connections back: work again for the next rollout.)
    await pendingWork();

    // 2. Killed while a member is asynchronous for its restart (tags.nosync set).
    const nosync = async () => {
      for (const h of DB) if ((await lab.exec(h, "grep -q '^ *nosync: true' /etc/patroni/patroni.yml")).code === 0) return h;
      return null;
    };
    const k2 = await killWhen('playbooks/upgrade.ts', nosync, 600_000);
    expect(await nosync(), 'the kill left the tag').toBe(k2.what);
    expect(await undoFiles(k2.what)).toContain('patroni_nosync');
    await settled('a healthy cluster after the second kill', 180_000, DB, () => true).catch(() => undefined);

    // 3. The next run puts both back before it does anything else, and finishes the rollout.
    // The killed run's lock is still there (not stale for 60 s): taken with --break-lock, named in a warning.
    const heal = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false', '--break-lock']);
    expect(heal.recap.ok, failures(heal)).toBe(true);
    const warned = Object.values(heal.recap.hosts).flatMap((h) => h.warnings).join('\n');
    expect(warned).toMatch(/run lock TAKEN OVER from run .*playbook upgrade/);
    expect(warned).toMatch(new RegExp(`put back what an interrupted run left: ${k2.what}: tags.nosync set`));
    for (const lb of BALANCERS) for (const h of DB) expect(await adminState(lb, 'postgres_replicas', h), `${lb} ${h}`).toBe('ready');
    expect(await nosync()).toBeNull();
    for (const h of [...DB, ...BALANCERS]) expect(await undoFiles(h), h).toBe('');
    const c = await settled('a healthy cluster with a synchronous standby', 180_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    expect(c.members.some((m) => m.role === 'sync_standby')).toBe(true);
    for (const h of DB) expect(await maxConnections(h), h).toBe('220');
    // The inventory's value back.
    const site = await run('playbooks/site.ts');
    expect(site.recap.ok, failures(site)).toBe(true);
    await settled('a healthy cluster', 180_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    figures.push(`killed rollouts: drained ${drained} (put back by site.ts) and nosync on ${k2.what} (put back by upgrade.ts, ${secs(heal.wallMs)}) left by SIGKILL, named by status.ts`);
  }, 1_500_000);

  it('interrupted at the other moments, under write load: switchover.ts SIGKILLed with the leader drained from the write route (site.ts puts it back), upgrade.ts SIGKILLed with keepalived stopped on the VIP holder (upgrade.ts puts it back), SIGTERM and SIGHUP mid-rollout (the member finishes, exit 143/129, nothing left behind), a balancer cut off during a drain (the other restored, the cut-off one named, then put back); no acknowledged write lost', async () => {
    const apiPassword = readFileSync(join(lab.secretsDir, 'patroni-api'), 'utf8').trim();
    const patchConfig = async (leader: string, maxConnections: number) => {
      const patch = await lab.ssh(leader, 'curl -sS -K -', {
        input: ['url = "http://127.0.0.1:8008/config"', 'request = "PATCH"', `user = ${curlConfigString(`patroni:${apiPassword}`)}`, 'header = "Content-Type: application/json"',
          `data = ${curlConfigString(JSON.stringify({ postgresql: { parameters: { max_connections: maxConnections } } }))}`, 'write-out = "%{http_code}"', ''].join('\n'),
        timeoutMs: 30_000,
      });
      expect(patch.stdout.trim().slice(-3)).toBe('200');
      await eventually('every member to report pending_restart', () => cluster(leader), (c) => c.members.every((m) => m.pendingRestart), 60_000);
    };
    const lockFiles = async () => (await Promise.all([...DB, ...BALANCERS].map(async (h) => ((await lab.exec(h, 'test -e /var/lib/rigger/run.lock')).code === 0 ? [h] : [])))).flat();
    const allReady = async () => {
      const off: string[] = [];
      for (const lb of BALANCERS) for (const b of ['postgres_primary', 'postgres_replicas']) for (const h of DB) if ((await adminState(lb, b, h)) !== 'ready') off.push(`${lb} ${b}/${h}`);
      return off;
    };
    const vipHolder = async () => (await Promise.all(BALANCERS.map(async (h) => ((await inside(h, `ip -o -4 addr show to ${lab.vip}/32`)) !== '' ? [h] : [])))).flat();
    const warningsOf = (r: Run) => Object.values(r.recap.hosts).flatMap((h) => h.warnings).join('\n');
    const c0 = await settled('a healthy cluster', 180_000);
    const load = startLoad({ host: lab.vip, user: 'postgres', password: password(), table: 'rigger_load_interrupts' });
    let report: LoadReport;
    const notes: string[] = [];
    try {
      await load.waitForAcks(50, 60_000);

      // 1. switchover.ts killed while the leader is drained from the write route.
      const leader = leaderOf(c0);
      const k1 = await killWhen('playbooks/switchover.ts', async () => ((await adminState('lb1', 'postgres_primary', leader)) === 'drain' ? leader : null), 300_000);
      expect(await undoFiles('lb1')).toContain(`postgres_primary_${leader}`);
      const heal1 = await run('playbooks/site.ts', ['--break-lock']);
      expect(heal1.recap.ok, failures(heal1)).toBe(true);
      expect(warningsOf(heal1)).toMatch(new RegExp(`put back what an interrupted run left: ${k1.what} in DRAIN in postgres_primary on lb1`));
      expect(await allReady()).toEqual([]);
      for (const h of [...DB, ...BALANCERS]) expect(await undoFiles(h), h).toBe('');
      await settled('one leader after the killed switchover', 180_000);
      const again1 = await run('playbooks/site.ts');
      expect(again1.recap.ok, failures(again1)).toBe(true);
      expect(again1.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}`)).toEqual([]);
      notes.push(`switchover.ts killed with ${k1.what} drained from the write route: site.ts put it back in ${secs(heal1.wallMs)}`);

      // 2. upgrade.ts killed while keepalived is stopped on the VIP holder (its binary replaced: work for the balancer roll).
      for (const h of BALANCERS) await inside(h, 'cp -p /usr/sbin/keepalived /usr/sbin/keepalived.rigger-new && mv /usr/sbin/keepalived.rigger-new /usr/sbin/keepalived');
      const [holder] = await vipHolder();
      const k2 = await killWhen('playbooks/upgrade.ts', async () => ((await lab.exec(holder!, 'systemctl is-active --quiet keepalived.service')).code !== 0 ? holder! : null), 600_000);
      expect(await undoFiles(k2.what)).toContain('keepalived_stopped');
      const heal2 = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false', '--break-lock']);
      expect(heal2.recap.ok, failures(heal2)).toBe(true);
      expect(warningsOf(heal2)).toMatch(new RegExp(`put back what an interrupted run left: keepalived stopped on ${k2.what}`));
      for (const h of BALANCERS) expect((await lab.exec(h, 'systemctl is-active --quiet keepalived.service')).code, `keepalived on ${h}`).toBe(0);
      expect(await vipHolder()).toHaveLength(1);
      const again2 = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false']);
      expect(again2.recap.ok, failures(again2)).toBe(true);
      expect(again2.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}`)).toEqual([]);
      notes.push(`upgrade.ts killed with keepalived stopped on ${k2.what}: upgrade.ts put it back and finished in ${secs(heal2.wallMs)}`);

      // 3. SIGTERM, then SIGHUP, each once a replica is drained: the member being rolled finishes
      // (back in the pool), nothing new starts, the lock is released, exit 128 + N.
      await patchConfig(leaderOf(await settled('a healthy cluster', 180_000)), 230);
      for (const [sig, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
        let child: ChildProcess | undefined;
        const running = run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false'], (_e, c) => (child = c));
        const drained = await eventually(`${sig}: a replica drained`, drainedOnLb1, (h) => h !== null, 300_000, 100);
        child!.kill(sig);
        const r = await running;
        expect(r.code, `${sig}: ${failures(r)}`).toBe(code);
        expect(r.recap.aborted, sig).toMatch(new RegExp(sig));
        expect(r.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host), sig).toEqual([drained]);
        expect(await allReady(), sig).toEqual([]);
        for (const h of [...DB, ...BALANCERS]) expect(await undoFiles(h), `${sig} ${h}`).toBe('');
        expect(await lockFiles(), sig).toEqual([]);
        notes.push(`${sig} with ${drained} drained: ${drained} finished, exit ${r.code} in ${secs(r.wallMs)}`);
      }

      // 4. The balancer that does not hold the VIP cut off while a replica is drained: the other is
      // restored and the run names the cut-off one; healed, it still holds the drain, and the next run puts it back.
      const [vipNow] = await vipHolder();
      const cut = BALANCERS.find((h) => h !== vipNow)!;
      const other = BALANCERS.find((h) => h !== cut)!;
      let r4: Run;
      let caught = '';
      try {
        let ended: Run | undefined;
        const running = run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false']).then((r) => (ended = r));
        for (const end = Date.now() + 300_000; !caught; await sleep(100)) {
          if (ended) throw new Error(`upgrade.ts ended before a replica was drained: ${failures(ended)}`);
          if (Date.now() > end) throw new Error('no replica drained on both balancers within 300 s');
          for (const h of DB) if (!caught && (await adminState(cut, 'postgres_replicas', h)) === 'drain' && (await adminState(other, 'postgres_replicas', h)) === 'drain') caught = h;
        }
        await lab.fault('partition', cut);
        r4 = await running;
      } finally {
        await lab.fault('heal', cut);
      }
      expect(r4.recap.ok).toBe(false);
      expect(failures(r4)).toMatch(new RegExp(cut));
      for (const h of DB) expect(await adminState(other, 'postgres_replicas', h), `${other} ${h}`).toBe('ready');
      expect(await undoFiles(other)).toBe('');
      expect(await adminState(cut, 'postgres_replicas', caught), `${cut} keeps the drain it could not be told to undo`).toBe('drain');
      expect(await undoFiles(cut)).toContain(`postgres_replicas_${caught}`);
      const heal4 = await run('playbooks/upgrade.ts', ['-e', 'rollout.refreshPackageLists=false', '--break-lock']);
      expect(heal4.recap.ok, failures(heal4)).toBe(true);
      expect(warningsOf(heal4)).toMatch(new RegExp(`put back what an interrupted run left: ${caught} in DRAIN in postgres_replicas on ${cut}`));
      expect(await allReady()).toEqual([]);
      for (const h of [...DB, ...BALANCERS]) expect(await undoFiles(h), h).toBe('');
      notes.push(`${cut} cut off with ${caught} drained: ${other} restored, the run failed naming ${cut} after ${secs(r4.wallMs)}; upgrade.ts put ${cut} back`);
    } finally {
      report = await load.stop({ dropTable: true });
    }
    expect(report.missing, 'acknowledged writes lost').toEqual([]);
    await settled('a healthy cluster', 180_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    // The inventory's max_connections back.
    const back = await run('playbooks/site.ts');
    expect(back.recap.ok, failures(back)).toBe(true);
    await settled('a healthy cluster', 180_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    figures.push(...notes, `interrupted runs under load: ${report.acknowledged} writes, 0 lost, longest gap ${report.longestWriteGapMs} ms; ${report.reads.ok} reads, ${report.reads.failed} failed`);
  }, 2_400_000);

  it('a paused cluster (patronictl pause): upgrade.ts and switchover.ts refuse, naming the pause, and change nothing', async () => {
    await settled('a healthy cluster', 120_000);
    const ctl = 'patronictl -c /etc/patroni/patroni.yml';
    await inside('pg1', `${ctl} pause --wait`);
    try {
      const before = await postmasters();
      for (const pb of ['playbooks/upgrade.ts', 'playbooks/switchover.ts']) {
        const r = await run(pb, ['-e', 'rollout.refreshPackageLists=false']);
        expect(r.code, pb).toBe(2);
        expect(failures(r), pb).toMatch(/the cluster is paused \(maintenance mode/);
        expect(r.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}`), pb).toEqual([]);
      }
      expect(await postmasters()).toEqual(before);
    } finally {
      await inside('pg1', `${ctl} resume --wait`);
    }
  }, 300_000);

  it('a member down (partitioned replica, also an etcd member): site.ts converges the rest with a warning; two down: site.ts stops at the etcd play saying the quorum is lost', async () => {
    const c0 = await settled('a healthy cluster', 120_000);
    const down = c0.members.find((m) => m.role === 'replica')?.name ?? c0.members.find((m) => m.role !== 'leader')!.name;
    await lab.fault('partition', down);
    // The second one down: not the leader, so Patroni's leader keeps its lock until the DCS goes.
    const second = c0.members.find((m) => m.name !== down && m.role !== 'leader')!.name;
    let r: Run;
    let r2: Run;
    try {
      r = await run('playbooks/site.ts');
      await lab.fault('partition', second);
      try {
        r2 = await run('playbooks/site.ts');
      } finally {
        await lab.fault('heal', second);
      }
    } finally {
      await lab.fault('heal', down);
    }
    expect(r.code, r.recap.aborted ?? '').toBe(4);
    expect(r.recap.aborted).toBeUndefined();
    expect(r.recap.hosts[down]?.unreachable).toBe(true);
    for (const h of [...DB.filter((x) => x !== down), ...BALANCERS]) expect(r.recap.hosts[h]?.failed, `${h}: ${failures(r)}`).toBe(0);
    const warned = Object.values(r.recap.hosts).flatMap((h) => h.warnings).join('\n');
    expect(warned).toMatch(new RegExp(`etcd member\\(s\\) down: ${down}; the quorum holds without them \\(a member gone for good: npx rigger run playbooks/remove.ts -l ${down}`));
    // Two of three etcd members unreachable: the run stops at the etcd play, naming the cause.
    const survivor = DB.find((h) => h !== down && h !== second)!;
    expect(r2.code).toBe(2);
    expect(r2.recap.aborted).toMatch(/play "etcd"/);
    expect(failures(r2)).toMatch(new RegExp(`etcd quorum lost: this run reaches only ${survivor} of`));
    expect(r2.recap.hosts[survivor]?.changed).toBe(0);
    for (const p of ['postgres', 'patroni', 'backup']) expect(r2.all.some((e) => e.type === 'play-start' && e.play === p), `play ${p} started`).toBe(false);
    await settled('a healthy cluster after the heal', 180_000);
    // etcd too: the members that were cut off answer healthy again (the next test needs the DCS whole).
    await eventually('etcd healthy on every member', () => lab.exec('pg1', 'ETCDCTL_API=3 etcdctl endpoint health --cluster'), (x) => x.code === 0, 120_000);
    figures.push(`site.ts with ${down} partitioned: the rest converged in ${secs(r.wallMs)} (exit 4 for ${down}); with ${second} too: stopped in ${secs(r2.wallMs)}, quorum lost`);
  }, 600_000);

  it('two site.ts runs with a restart pending, started together and 5 s apart: one proceeds, the others exit 1 naming the holder; each member restarted once', async () => {
    await settled('a healthy cluster', 120_000);
    const before = await postmasters();
    const raise = ['-e', 'patroni.dcs.parameters.max_connections=240'];
    const a = run('playbooks/site.ts', raise);
    const b = run('playbooks/site.ts', raise);
    await sleep(5000);
    const c = await run('playbooks/site.ts', raise);
    const [ra, rb] = await Promise.all([a, b]);
    const runs = [ra, rb, c];
    const winners = runs.filter((r) => r.code === 0);
    const refused = runs.filter((r) => r.code === 1);
    expect(winners.length, runs.map((r) => `${r.code}: ${r.recap.aborted ?? ''} ${r.code === 1 ? '' : failures(r)}`).join('\n')).toBe(1);
    expect(refused.length).toBe(2);
    for (const r of refused) {
      expect(r.recap.refused).toBe('run-lock');
      expect(r.recap.aborted).toMatch(/is locked by run .*playbook site/);
      expect(r.events.filter((e) => e.result.status === 'changed')).toEqual([]);
    }
    const after = await postmasters();
    for (const h of DB) expect(after[h]!.pid, `${h} restarted`).not.toBe(before[h]!.pid);
    const restartTask = 'patroni: restart members with pending_restart (replicas first, leader last)';
    const restarts = winners[0]!.events.filter((e) => e.task === restartTask && e.result.status === 'changed');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]!.result.summary).toMatch(/^restarted PostgreSQL on pg\d, pg\d, pg\d$/);
    for (const h of DB) expect(await maxConnections(h), h).toBe('240');
    await settled('a healthy cluster', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    // The inventory's value back.
    const back = await run('playbooks/site.ts');
    expect(back.recap.ok, failures(back)).toBe(true);
    await settled('a healthy cluster', 120_000, DB, (x) => x.members.every((m) => !m.pendingRestart));
    figures.push(`concurrent site.ts: 1 of 3 proceeded, 2 refused by the run lock in ${refused.map((r) => secs(r.wallMs)).join(', ')}`);
  }, 600_000);

  it('upgrade.ts rolls etcd (leader last, quorum kept) and the balancers (VIP holder last) when their binaries were replaced; no write lost', async () => {
    // As after an upgrade whose services were not restarted: the running processes' binaries
    // replaced on disk (a copy moved over each; dpkg would restart the services itself).
    const replace = (bin: string) => `cp -p ${bin} ${bin}.rigger-new && mv ${bin}.rigger-new ${bin}`;
    for (const h of DB) await inside(h, replace('/usr/bin/etcd'));
    for (const h of BALANCERS) await inside(h, `${replace('/usr/sbin/haproxy')} && ${replace('/usr/sbin/keepalived')}`);
    const etcdLeader = async () => {
      const status = JSON.parse(await inside('pg1', 'ETCDCTL_API=3 etcdctl endpoint status --cluster -w json')) as Array<{ Endpoint: string; Status: { header: { member_id: number }; leader: number } }>;
      const lead = status.find((x) => x.Status.header.member_id === x.Status.leader)!;
      return DB.find((h) => lead.Endpoint.includes(`//${lab.hosts[h]}:`))!;
    };
    const leaderBefore = await etcdLeader();
    const vipHolder = async () => {
      const held = await Promise.all(BALANCERS.map(async (h) => ((await inside(h, `ip -o -4 addr show to ${lab.vip}/32`)) !== '' ? h : null)));
      return held.filter((h): h is string => h !== null);
    };
    const [holderBefore] = await vipHolder();
    const pids = async (host: string, unit: string) => inside(host, `systemctl show -p MainPID --value ${unit}`);
    const etcdBefore = Object.fromEntries(await Promise.all(DB.map(async (h) => [h, await pids(h, 'etcd')] as const)));
    const kaBefore = Object.fromEntries(await Promise.all(BALANCERS.map(async (h) => [h, await pids(h, 'keepalived')] as const)));

    const load = startLoad({ host: lab.vip, user: 'postgres', password: password(), table: 'rigger_load_edges' });
    let r: Run;
    let report: LoadReport;
    try {
      await load.waitForAcks(50, 60_000);
      r = await run('playbooks/upgrade.ts');
      await sleep(2000);
    } finally {
      report = await load.stop({ dropTable: true });
    }
    expect(r.recap.ok, failures(r)).toBe(true);
    const order = (task: string) => r.events.filter((e) => e.task.startsWith(task) && e.result.status === 'changed').map((e) => e.host);
    const etcdOrder = order('rollout: this etcd member');
    expect([...etcdOrder].sort()).toEqual(DB);
    expect(etcdOrder[2], 'the etcd leader last').toBe(leaderBefore);
    expect(r.events.find((e) => e.host === leaderBefore && e.task.startsWith('rollout: this etcd member'))?.result.summary).toMatch(/^leadership moved to pg\d, restarted etcd$/);
    for (const h of DB) expect(await pids(h, 'etcd'), `${h} etcd restarted`).not.toBe(etcdBefore[h]);
    const lbOrder = order('rollout: this balancer');
    expect([...lbOrder].sort()).toEqual(BALANCERS);
    expect(lbOrder[1], 'the VIP holder last').toBe(holderBefore);
    expect(r.events.find((e) => e.host === holderBefore && e.task.startsWith('rollout: this balancer'))?.result.summary).toMatch(/^virtual IP handed over, HAProxy reloaded onto the new binary/);
    for (const h of BALANCERS) {
      expect(await pids(h, 'keepalived'), `${h} keepalived restarted`).not.toBe(kaBefore[h]);
      expect(await inside(h, "readlink /proc/$(systemctl show -p MainPID --value haproxy)/exe"), `${h} haproxy on the new binary`).not.toMatch(/deleted/);
    }
    expect(await vipHolder()).toHaveLength(1);
    // Nothing on the database members restarted (no rows for them), and no write lost.
    expect(order('rollout: this member (drain')).toEqual([]);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    const health = JSON.parse(await inside('pg2', 'ETCDCTL_API=3 etcdctl endpoint health --cluster -w json')) as Array<{ health: boolean }>;
    expect(health.map((x) => x.health)).toEqual([true, true, true]);
    figures.push(`upgrade.ts rolling etcd (${etcdOrder.join(', ')}) and balancers (${lbOrder.join(', ')}) under load: ${secs(r.wallMs)}; ${report.acknowledged} writes, 0 lost, longest write gap ${report.longestWriteGapMs.toFixed(0)} ms (the VIP moved)`);
  }, 600_000);

  it('switchover.ts hands the leader role to the synchronous standby; writes through the VIP land on it', async () => {
    const c0 = await cluster('pg1');
    const from = leaderOf(c0);
    const to = c0.members.find((m) => m.role === 'sync_standby')!.name;
    const check = await run('playbooks/switchover.ts', ['--check']);
    expect(check.recap.ok, failures(check)).toBe(true);
    expect(check.events.filter((e) => e.result.status === 'changed').map((e) => e.result.summary)).toEqual([`would switch over ${from} -> ${to}`]);
    expect(leaderOf(await cluster('pg1'))).toBe(from);
    // A candidate named with -e must be the synchronous standby: an async one is refused, nothing moves.
    const other = c0.members.find((m) => m.role === 'replica')!.name;
    const refused = await run('playbooks/switchover.ts', ['--check', '-e', `rollout.candidate=${other}`]);
    expect(refused.code).toBe(2);
    expect(failures(refused)).toContain(`switchover candidate ${other} is replica; in synchronous mode only the synchronous standby`);
    expect(leaderOf(await cluster('pg1'))).toBe(from);

    const s = await run('playbooks/switchover.ts');
    expect(s.recap.ok, failures(s)).toBe(true);
    expect(leaderOf(await cluster('pg1'))).toBe(to);
    const c = await settled('a healthy cluster after the switchover', 120_000);
    expect(leaderOf(c)).toBe(to);
    expect(await writeViaVip()).toBe(lab.hosts[to]);
    figures.push(`switchover.ts ${from} -> ${to}: ${secs(s.wallMs)} wall; ${s.events.find((e) => e.result.status === 'changed')?.result.summary}`);
  }, 300_000);

  it('failover-drill.ts: the leader is killed, a replica takes over, the old leader rejoins', async () => {
    const from = leaderOf(await cluster('pg1'));
    const d = await run('playbooks/failover-drill.ts');
    expect(d.recap.ok, failures(d)).toBe(true);
    const c = await settled('a healthy cluster after the drill', 180_000);
    expect(leaderOf(c)).not.toBe(from);
    expect(c.members.find((m) => m.name === from)?.role).not.toBe('leader');
    expect(lab.hosts[leaderOf(c)]).toBe(await writeViaVip());
    figures.push(`failover-drill.ts: ${d.events.find((e) => e.result.status === 'changed')?.result.summary}`);
  }, 600_000);

  it('a replica partitioned mid-rollout stops it at the gate with a clear message; the cluster keeps serving writes', async () => {
    // Something to roll: binaries replaced on disk under every postmaster.
    for (const h of DB) await inside(h, `DEBIAN_FRONTEND=noninteractive apt-get install --reinstall -y -q postgresql-${lab.pg} >/dev/null 2>&1`);
    const c0 = await cluster('pg1');
    const leader = leaderOf(c0);
    const sync = c0.members.find((m) => m.role === 'sync_standby')!.name;
    const firstUp = c0.members.find((m) => m.role === 'replica')!.name;
    const before = await postmasters();
    let partitioned = false;
    let watch: NodeJS.Timeout | undefined;
    let first = '';
    try {
      const r = await run('playbooks/upgrade.ts', [], (events) => {
        // The async replica goes first; the synchronous standby is cut off while it rolls: once
        // HAProxy shows it drained (past its own look at the cluster, before the gate).
        let busy = false;
        watch = setInterval(() => {
          if (partitioned || busy || !readEvents(events).some((e) => e.type === 'batch-start' && e['batch'] === 1)) return;
          busy = true;
          adminState('lb1', 'postgres_replicas', firstUp)
            .then((state) => {
              if (state === 'drain' && !partitioned) {
                partitioned = true;
                return lab.fault('partition', sync).then(() => undefined);
              }
              return undefined;
            })
            .catch(() => undefined)
            .finally(() => (busy = false));
        }, 100);
      });
      clearInterval(watch);
      expect(partitioned).toBe(true);
      expect(r.code, failures(r)).toBe(2);
      expect(r.recap.aborted).toMatch(new RegExp(`gate after batch 1 failed: .*${sync} does not answer over SSH`));
      // Only the first replica was touched: not the partitioned one, not the leader.
      const after = await postmasters();
      expect(after[leader]!.pid).toBe(before[leader]!.pid);
      expect(after[sync]!.pid).toBe(before[sync]!.pid);
      const rolled = r.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
      expect(rolled).toEqual([firstUp]);
      first = rolled[0]!;
      // Commits wait for the cut-off synchronous standby until Patroni drops it: then writes go on.
      const t0 = Date.now();
      const server = await eventually('a write through the VIP with a replica partitioned', writeViaVip, (s) => s === lab.hosts[leader], 180_000);
      expect(server).toBe(lab.hosts[leader]);
      figures.push(`gate stop: "${r.recap.aborted}"; writes through the VIP ${secs(Date.now() - t0)} after the rollout stopped`);
    } finally {
      clearInterval(watch);
      if (partitioned) await lab.fault('heal', sync);
    }
    const healed = await settled(`a healthy cluster after healing ${sync}`, 300_000);
    // Fixed the cause: the same command finishes the rollout.
    const resume = await run('playbooks/upgrade.ts');
    expect(resume.recap.ok, failures(resume)).toBe(true);
    const resumed = resume.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
    expect([...resumed].sort()).toEqual(DB.filter((h) => h !== first).sort());
    expect(resumed[resumed.length - 1], 'the leader last').toBe(leaderOf(healed));
  }, 1_200_000);

  it('a new pg4 that cannot be reached stops site.ts before any change (exit 4); then enroll.ts -l pg4: pg4 streams from the leader and serves reads on 5001; nothing else restarted', async () => {
    await lab.add('pg4', ['postgres', 'etcd']);
    // First unreachable: a host the cluster never had stops site.ts before it changes anything
    // (otherwise every balancer, member and the repository would be configured around it).
    const files = async () => {
      const out: Record<string, string> = {};
      for (const h of DB) out[h] = await inside(h, 'sha256sum /etc/patroni/patroni.yml /etc/default/etcd /etc/pgbackrest.conf');
      for (const h of BALANCERS) out[h] = await inside(h, 'sha256sum /etc/haproxy/haproxy.cfg /etc/keepalived/keepalived.conf');
      out['backup1'] = await inside('backup1', 'sha256sum /etc/pgbackrest.conf');
      return out;
    };
    await lab.fault('partition', 'pg4');
    const filesBefore = await files();
    const procsBefore = await processes();
    let stopped: Run;
    try {
      stopped = await run('playbooks/site.ts');
    } finally {
      await lab.fault('heal', 'pg4');
    }
    expect(stopped.code, stopped.stderr.slice(-2000)).toBe(4);
    expect(stopped.recap.refused).toBe('unreachable-newcomer');
    expect(stopped.recap.aborted).toMatch(/pg4 cannot be reached and is not yet a member of the cluster/);
    expect(stopped.recap.hosts['pg4']?.unreachable).toBe(true);
    expect(stopped.events.filter((x) => x.result.status === 'changed').map((x) => `${x.host}: ${x.task}`)).toEqual([]);
    expect(await files()).toEqual(filesBefore);
    expect(await processes()).toEqual(procsBefore);
    figures.push(`site.ts with a new, unreachable pg4: stopped before any change (exit 4) in ${secs(stopped.wallMs)}`);

    const before = await processes();
    const e = await run('playbooks/enroll.ts', ['-l', 'pg4']);
    expect(e.recap.ok, failures(e)).toBe(true);
    const all = [...DB, 'pg4'];
    const c = await settled('pg4 in a healthy cluster', 300_000, all);
    const leader = leaderOf(c);
    // True when enroll.ts returns: it waits for both.
    const links = await inside(leader, `cd / && runuser -u postgres -- psql -X -A -t -c "select state from pg_stat_replication where application_name = 'pg4'"`);
    expect(links).toBe('streaming');
    for (const lb of BALANCERS) expect(await readPool(lb), lb).toContain('pg4');
    const members = JSON.parse(await inside('pg1', 'ETCDCTL_API=3 etcdctl member list -w json')) as { members: Array<{ name: string }> };
    expect(members.members.map((m) => m.name).sort()).toEqual(all);
    expect(await processes()).toEqual(before);
    figures.push(`enroll.ts -l pg4 (packages, etcd member add, clone, pgBackRest, HAProxy): ${secs(e.wallMs)} wall`);
    const again = await run('playbooks/enroll.ts', ['-l', 'pg4']);
    expect(again.recap.ok, failures(again)).toBe(true);
    expect(again.events.filter((x) => x.result.status === 'changed').map((x) => `${x.host}: ${x.task}`)).toEqual([]);
  }, 1_200_000);
});
