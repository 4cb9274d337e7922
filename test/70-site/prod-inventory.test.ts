/**
 * The example production inventory (documentation) stays valid for the site playbook: every
 * role's vars validate on every host of its play. Nothing connects to its addresses.
 */
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/index.ts';
import { selectHosts } from '../../src/inventory/pattern.ts';
import { resolveRoleVars } from '../../src/engine/vars.ts';
import type { Play, Step } from '../../src/engine/play.ts';
import { isSecret } from '../../src/core/secret.ts';
import site from '../../playbooks/site.ts';

const env = {
  PATRONI_API_PASSWORD: 'example-api',
  PG_SUPERUSER_PASSWORD: 'example-super',
  PG_REPLICATION_PASSWORD: 'example-repl',
  PG_REWIND_PASSWORD: 'example-rewind',
};

function plays(steps: Step[]): Play[] {
  return steps.flatMap((s) => (s.kind === 'play' ? [s] : plays(s.steps)));
}

describe('inventories/prod with playbooks/site.ts', () => {
  it('validates every role on every host', async () => {
    const inv = await loadInventory('inventories/prod/hosts.yml', { env });
    const problems: string[] = [];
    let checked = 0;
    for (const play of plays(site.steps)) {
      for (const host of selectHosts(inv, play.hosts)) {
        for (const role of play.roles ?? []) {
          const r = resolveRoleVars(role, host, inv);
          if (!r.ok) problems.push(...r.problems);
          checked++;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });

  it('holds passwords as secrets, from the environment', async () => {
    const inv = await loadInventory('inventories/prod/hosts.yml', { env });
    const patroni = inv.hosts.get('pg2')!.vars['patroni'] as { authentication: { superuser: { password: unknown } } };
    expect(isSecret(patroni.authentication.superuser.password)).toBe(true);
  });

  it('says which secret is missing when the environment lacks it', async () => {
    await expect(loadInventory('inventories/prod/hosts.yml', { env: {} })).rejects.toThrow(/PG_SUPERUSER_PASSWORD|PATRONI_API_PASSWORD/);
  });
});
