import { describe, expect, it } from 'vitest';
import { applyExtraVars, parseExtraVar } from '../../src/inventory/extra-vars.ts';
import { parseCli } from '../../src/cli/args.ts';
import { InputError } from '../../src/core/errors.ts';
import { resolveRoleVars } from '../../src/engine/vars.ts';
import { rolloutSteps } from '../../playbooks/day2/lib/vars.ts';
import { memoryInventory } from '../support/inventory.ts';

const rollout = rolloutSteps('test', () => []);

describe('-e / --extra-vars', () => {
  it('parses dotted keys into nested objects with YAML-typed values', () => {
    expect(parseExtraVar('rollout.candidate=pg3')).toEqual({ rollout: { candidate: 'pg3' } });
    expect(parseExtraVar('rollout.maxLagBytes=1048576')).toEqual({ rollout: { maxLagBytes: 1048576 } });
    expect(parseExtraVar('rollout.refreshPackageLists=false')).toEqual({ rollout: { refreshPackageLists: false } });
    expect(parseExtraVar('rollout.packages=[postgresql-15, libpq5]')).toEqual({ rollout: { packages: ['postgresql-15', 'libpq5'] } });
    expect(parseExtraVar('x=a=b')).toEqual({ x: 'a=b' });
  });

  it('refuses malformed input and anything that looks like a secret, saying why', () => {
    expect(() => parseExtraVar('candidate')).toThrow(/expected KEY=VALUE/);
    expect(() => parseExtraVar('=pg3')).toThrow(/expected KEY=VALUE/);
    expect(() => parseExtraVar('a..b=1')).toThrow(/names joined by dots/);
    for (const k of ['patroni.restapi.password', 'pgbackrest.repo.cipherPass', 'api_token', 'db.secret'])
      expect(() => parseExtraVar(`${k}=hunter2`), k).toThrow(/secrets never go on a command line/);
    try {
      parseExtraVar('patroni.authentication.superuser.password=hunter2');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect(String(e)).not.toContain('hunter2');
    }
  });

  it('wins over the inventory key by key, on every host, and errors name --extra-vars', () => {
    const inv = memoryInventory({ postgres: ['pg1', 'pg2'] }, { pg1: { rollout: { maxLagBytes: 5, candidate: 'pg9' } } });
    applyExtraVars(inv, ['rollout.candidate=pg2', 'rollout.drainTimeoutSeconds=7']);
    const r1 = resolveRoleVars(rollout, inv.hosts.get('pg1')!, inv);
    expect(r1.ok && r1.vars).toMatchObject({ candidate: 'pg2', maxLagBytes: 5, drainTimeoutSeconds: 7 });
    const r2 = resolveRoleVars(rollout, inv.hosts.get('pg2')!, inv);
    expect(r2.ok && r2.vars).toMatchObject({ candidate: 'pg2', drainTimeoutSeconds: 7 });

    applyExtraVars(inv, ['rollout.maxLagBytes=lots']);
    // pg1's rollout key comes from its host_vars too: the error names both places.
    const bad = resolveRoleVars(rollout, inv.hosts.get('pg1')!, inv);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems[0]).toMatch(/^memory\/host_vars\/pg1\.yml \+ --extra-vars: host pg1: rollout\.maxLagBytes: /);
    // pg2 has no rollout key of its own: the command line alone.
    const bad2 = resolveRoleVars(rollout, inv.hosts.get('pg2')!, inv);
    expect(!bad2.ok && bad2.problems[0]).toMatch(/^--extra-vars: host pg2: rollout\.maxLagBytes: /);
  });

  it('the CLI collects -e and --extra-vars in order', () => {
    const a = parseCli(['run', 'playbooks/switchover.ts', '-i', 'inv', '-e', 'rollout.candidate=pg3', '--extra-vars', 'rollout.switchoverTimeoutSeconds=30']);
    expect(a.command === 'run' && a.extraVars).toEqual(['rollout.candidate=pg3', 'rollout.switchoverTimeoutSeconds=30']);
  });
});
