/**
 * playbooks/status.ts on the lab (after the site tests deployed it): the status the README's
 * demo ends with must be true — one leader, and HAProxy on every balancer routing 5000 to
 * that leader and 5001 to the others — and it must change nothing.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureLab, labSkipReason } from '../support/lab.ts';

const skip = labSkipReason();
const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(skip !== null)(`status playbook on the lab${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    await ensureLab();
  });

  it('reports one leader and the routes that follow it, changing nothing', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, ['bin/rigger.js', 'run', 'playbooks/status.ts', '-i', 'inventories/lab'], { cwd: ROOT, env: { ...process.env, CI: 'true' }, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 99) : 0, stdout, stderr }),
      ),
    );
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
});
