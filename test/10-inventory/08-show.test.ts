import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { renderInventory } from '../../src/inventory/show.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { FIXTURES } from './support.ts';

let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(join(FIXTURES, 'ours'), { env: { RIGGER_TEST_PG_SUPER: 'show-secret-value-48', HOME: '/home/t' } });
});

describe('renderInventory', () => {
  it('text: hosts with connection, groups and vars with their origins', () => {
    const text = renderInventory(inv, { json: false });
    expect(text).toContain('inventory ');
    expect(text).toContain('  pg2  ssh admin@10.213.7.12:2222, become,');
    expect(text).toContain('  local  local');
    expect(text).toContain('    groups: all, postgres, replicas, db');
    expect(text).toContain('      node_id: 101    # test/fixtures/inventories/ours/host_vars/pg1.yml');
    expect(text).toContain('      role_label: from-postgres-inline    # test/fixtures/inventories/ours/hosts.yml (group postgres)');
    expect(text).toContain('  db: pg1, pg2, pg3, backup1  (children: postgres, backup)');
    expect(text).not.toContain('show-secret-value-48');
  });

  it('json: the same data, parseable, secrets masked', () => {
    const data = JSON.parse(renderInventory(inv, { json: true })) as {
      hosts: Array<{ name: string; connection: { port: number }; vars: Record<string, unknown>; origins: Record<string, string> }>;
      groups: Array<{ name: string; hosts: string[] }>;
    };
    expect(data.hosts.map((h) => h.name)).toEqual(['pg1', 'pg2', 'pg3', 'backup1', 'local']);
    const pg2 = data.hosts[1]!;
    expect(pg2.connection.port).toBe(2222);
    expect(pg2.vars.superuser_password).toBe('********');
    expect(pg2.origins.node_id).toBe('test/fixtures/inventories/ours/hosts.yml');
    expect(data.groups.find((g) => g.name === 'replicas')!.hosts).toEqual(['pg2', 'pg3']);
  });

  it('--limit shows only the selected hosts and the groups that hold them', () => {
    const data = JSON.parse(renderInventory(inv, { json: true, limit: 'backup1' })) as { hosts: Array<{ name: string }>; groups: Array<{ name: string; hosts: string[] }> };
    expect(data.hosts.map((h) => h.name)).toEqual(['backup1']);
    expect(data.groups.map((g) => g.name)).toEqual(['all', 'db', 'backup']);
    expect(data.groups.find((g) => g.name === 'db')!.hosts).toEqual(['backup1']);
    const text = renderInventory(inv, { json: false, limit: 'backup1' });
    expect(text).toContain('1 host, 3 groups');
    expect(text).not.toContain('  pg1  ');
  });
});
