/**
 * Debian 12 stays supported: the default topology on its own lab instance (`d12`, Debian 12
 * bookworm, brought up from bare hosts here and down at the end). site.ts from bare hosts
 * (PostgreSQL 15 derived from the hosts' release, Patroni 3.0.2), the split-brain warning named on
 * every database host on every run, a second run that changes nothing, and upgrade.ts and
 * switchover.ts under write load through the VIP. The rest of the suite runs on the default, Debian 13. Prints figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { failures, rigger, secs, type Run } from '../support/rigger-cli.ts';
import { clusterHelpers, type ClusterHelpers } from '../support/cluster.ts';
import { startLoad, type LoadReport } from '../support/write-load.ts';
import { publishNewer, unpublish } from '../support/newer-package.ts';

const skip = labSkipReason();
const INSTANCE = 'd12';
const DB = ['pg1', 'pg2', 'pg3'];
const ROLL_TASK = 'rollout: this member (drain, checkpoint, upgrade, restart, back in the pool)';

describe.skipIf(skip !== null)(`Debian 12 (instance ${INSTANCE})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  let c: ClusterHelpers;
  let tmp: string;
  const t0 = Date.now();
  const figures: string[] = [];
  const run = (playbook: string, extra: string[] = []): Promise<Run> => rigger(playbook, lab.inventoryDir, tmp, extra);
  const changed = (r: Run) => r.events.filter((e) => e.result.status === 'changed').map((e) => `${e.host}: ${e.task}`);
  const splitBrainWarned = (r: Run) => DB.filter((h) => (r.recap.hosts[h]?.warnings ?? []).some((w) => /^Patroni 3\.0\.2 has a known split-brain bug.*Fix: Debian 13/.test(w)));

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rigger-d12-'));
    lab = await ensureLab({ instance: INSTANCE, release: '12' });
    if ((await lab.exec('pg1', 'test -e /etc/patroni/patroni.yml')).code === 0) {
      await lab.down();
      lab = await ensureLab({ instance: INSTANCE, release: '12' });
    }
    c = clusterHelpers(lab);
    figures.push(`lab ${INSTANCE} up (Debian ${lab.release}, from bare): ${secs(Date.now() - t0)}`);
  }, 900_000);

  afterAll(async () => {
    if (lab) await unpublish(lab, DB).catch(() => undefined);
    if (lab) await lab.down();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    figures.push(`the whole file, lab up to down: ${secs(Date.now() - t0)}`);
    process.stdout.write(`\nDebian 12 (instance ${INSTANCE}):\n${figures.map((t) => `  ${t}`).join('\n')}\n`);
  }, 300_000);

  it('site.ts from bare hosts: PostgreSQL 15 under Patroni 3.0.2, a healthy cluster, and the split-brain warning on every database host', async () => {
    expect(lab.release).toBe('12');
    const site = await run('playbooks/site.ts');
    expect(site.recap.ok, failures(site)).toBe(true);
    const cl = await c.settled('a healthy cluster after site.ts', 180_000, DB);
    for (const h of DB) {
      expect(await c.inside(h, "dpkg-query -W -f '${Version}' patroni"), h).toMatch(/^3\.0\.2/);
      expect(await c.inside(h, 'test -f /var/lib/postgresql/15/main/PG_VERSION && cat /var/lib/postgresql/15/main/PG_VERSION'), h).toBe('15');
    }
    expect(splitBrainWarned(site)).toEqual(DB);
    figures.push(`site.ts from bare hosts: ${secs(site.wallMs)} wall (engine ${secs(site.recap.durationMs)}); leader ${c.leaderOf(cl)}`);
  }, 900_000);

  it('a second site.ts run changes nothing, and warns again', async () => {
    const again = await run('playbooks/site.ts');
    expect(again.recap.ok, failures(again)).toBe(true);
    expect(changed(again)).toEqual([]);
    expect(splitBrainWarned(again)).toEqual(DB);
    figures.push(`second site.ts: ${secs(again.wallMs)} wall, changed=0`);
  }, 600_000);

  it('switchover.ts under write load through the VIP: no acknowledged write lost', async () => {
    const old = c.leaderOf(await c.cluster('pg1'));
    const load = startLoad({ host: lab.vip, user: 'postgres', password: c.password(), table: 'rigger_load_d12' });
    let report: LoadReport;
    let r: Run;
    try {
      await load.waitForAcks(50, 60_000);
      r = await run('playbooks/switchover.ts');
    } finally {
      report = await load.stop({ dropTable: true });
    }
    expect(r.recap.ok, failures(r)).toBe(true);
    const now = c.leaderOf(await c.settled('a healthy cluster after the switchover', 180_000, DB));
    expect(now).not.toBe(old);
    expect(report.acknowledged).toBeGreaterThan(50);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    figures.push(`switchover.ts ${old} -> ${now}: ${secs(r.wallMs)} wall; ${report.acknowledged} writes acknowledged, 0 lost, longest gap ${secs(report.longestWriteGapMs)}`);
  }, 600_000);

  it('upgrade.ts under write load through the VIP: every member upgraded, the leader last, no acknowledged write lost', async () => {
    const offer = await publishNewer(lab, DB, 'postgresql-15');
    const old = c.leaderOf(await c.cluster('pg1'));
    const load = startLoad({ host: lab.vip, user: 'postgres', password: c.password(), table: 'rigger_load_d12_upgrade' });
    let report: LoadReport;
    let r: Run;
    try {
      await load.waitForAcks(50, 60_000);
      r = await run('playbooks/upgrade.ts');
    } finally {
      report = await load.stop({ dropTable: true });
    }
    expect(r.recap.ok, failures(r)).toBe(true);
    for (const h of DB) expect(await c.inside(h, "dpkg-query -W -f '${Version}' postgresql-15"), h).toBe(offer.to);
    const rolled = r.events.filter((e) => e.task === ROLL_TASK && e.result.status === 'changed').map((e) => e.host);
    expect(rolled).toHaveLength(3);
    expect(rolled[2], 'the leader last').toBe(old);
    await c.settled('a healthy cluster after the upgrade', 180_000, DB);
    expect(report.acknowledged).toBeGreaterThan(50);
    expect(report.missing, `lost writes: ${report.missing.slice(0, 20).join(', ')}`).toEqual([]);
    figures.push(`upgrade.ts (${offer.from} -> ${offer.to}): ${secs(r.wallMs)} wall; ${report.acknowledged} writes acknowledged, 0 lost, longest gap ${secs(report.longestWriteGapMs)}`);
  }, 1_200_000);
});
