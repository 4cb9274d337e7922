import { describe, expect, it } from 'vitest';
import { patroniVersion, splitBrainRisk } from '../../roles/patroni/rules.ts';
import { splitBrainGuard } from '../../roles/patroni/steps.ts';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { Secret } from '../../src/core/secret.ts';
import { ctxFor } from '../support/role-context.ts';

describe('Patroni split-brain guard (patroni/patroni#2689, #2693)', () => {
  it('reads the version from patroni --version and from dpkg', () => {
    expect(patroniVersion('patroni 3.0.2')).toEqual([3, 0, 2]);
    expect(patroniVersion('3.0.2-1+deb12u1')).toEqual([3, 0, 2]);
    expect(patroniVersion('1:4.0.7-1')).toEqual([4, 0, 7]);
    expect(patroniVersion('')).toBeNull();
  });

  it('names 3.0.0-3.0.2 with the fix, and nothing else', () => {
    for (const v of ['3.0.0-1', '3.0.1-2', '3.0.2-1+deb12u1']) {
      const w = splitBrainRisk(v);
      expect(w).toContain(`Patroni ${v.slice(0, 5)} has a known split-brain bug`);
      expect(w).toContain('patroni/patroni#2689, #2693; fixed in 3.0.3');
      expect(w).toContain('Fix: Debian 13 (patroni 4.0.7), or a fixed Patroni package');
    }
    for (const v of ['2.1.6-1', '3.0.3-1', '3.3.2-1', '4.0.7-1', '']) expect(splitBrainRisk(v)).toBeNull();
  });

  const vars = PatroniVarsSchema.parse({
    restapi: { password: new Secret('a') },
    authentication: { superuser: { password: new Secret('s') }, replication: { password: new Secret('r') }, rewind: { password: new Secret('w') } },
  });
  const runGuard = async (installed: string) => {
    const { ctx, warnings } = ctxFor('pg1', vars, { exec: () => ({ code: 0, stdout: installed, stderr: '' }) });
    if (splitBrainGuard.kind !== 'run') throw new Error('the guard is a run step');
    const r = await splitBrainGuard.run(ctx);
    return { r, warnings };
  };

  it("warns on a host with Debian 12's patroni, not on Debian 13's", async () => {
    const old = await runGuard('3.0.2-1+deb12u1');
    expect(old.warnings).toHaveLength(1);
    expect(old.warnings[0]).toMatch(/^Patroni 3\.0\.2 has a known split-brain bug/);
    expect(old.r.changed).toBe(false);
    expect((await runGuard('4.0.7-1')).warnings).toEqual([]);
  });
});
