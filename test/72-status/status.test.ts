/**
 * playbooks/status.ts on the lab (after the site tests deployed it): the status the README's
 * demo ends with must be true — one leader, and HAProxy on every balancer routing 5000 to
 * that leader and 5001 to the others — and it must change nothing.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCluster } from '../../roles/patroni/exports.ts';
import { ensureLab, labSkipReason, type LabHandle } from '../support/lab.ts';
import { eventually } from '../support/rigger-cli.ts';

const skip = labSkipReason();
const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(skip !== null)(`status playbook on the lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: LabHandle;
  beforeAll(async () => {
    lab = await ensureLab();
  });

  const status = () =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, ['bin/rigger.js', 'run', 'playbooks/status.ts', '-i', lab.inventoryDir], { cwd: ROOT, env: { ...process.env, CI: 'true' }, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 99) : 0, stdout, stderr }),
      ),
    );

  it('reports one leader and the routes that follow it, changing nothing', async () => {
    const r = await status();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const leaders = [...r.stdout.matchAll(/^\[\w+\] (\w+)\s+leader\s+running/gm)].map((m) => m[1]);
    expect(leaders).toHaveLength(1);
    const routes = [...r.stdout.matchAll(/^\[(lb\d)\] 5000 \(writes\) -> ([\w, ]+); 5001 \(reads\) -> ([\w, ]+);/gm)];
    expect(routes.map((m) => m[1]).sort()).toEqual(['lb1', 'lb2']);
    for (const m of routes) {
      expect(m[2]).toBe(leaders[0]);
      expect(m[3]!.split(', ').sort()).toEqual(['pg1', 'pg2', 'pg3'].filter((n) => n !== leaders[0]));
    }
    expect(r.stdout.match(/holds the virtual IP/g)).toHaveLength(1);
    expect(r.stdout).toMatch(/changed=0/);
    expect(r.stdout).not.toMatch(/changed=[1-9]/);
  });

  it('with pg1 powered off, prints the members as pg2 or pg3 sees them (pg1 unreachable, exit 4)', async () => {
    await lab.fault('stop', 'pg1');
    let r: Awaited<ReturnType<typeof status>>;
    try {
      r = await status();
    } finally {
      await lab.fault('start', 'pg1');
    }
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/UNREACHABLE: \[pg1\]/);
    const rows = [...r.stdout.matchAll(/^\[(pg[23])\] (pg\d)\s+(leader|sync_standby|replica)\s+(\w+)/gm)];
    expect(new Set(rows.map((m) => m[1])).size, r.stdout).toBe(1);
    expect(rows.map((m) => m[2]).sort()).toEqual(expect.arrayContaining(['pg2', 'pg3']));
    // pg1 back as a running member before the next file.
    await eventually(
      'pg1 running again as a Patroni member',
      async () => parseCluster(JSON.parse((await lab.exec('pg2', 'curl -sS --max-time 5 http://127.0.0.1:8008/cluster')).stdout || '{}')),
      (c) => c.members.length === 3 && c.members.every((m) => m.state === 'running' || m.state === 'streaming'),
      180_000,
      2000,
    );
  }, 300_000);
});
