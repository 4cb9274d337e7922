import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { isSecret } from '../../src/core/secret.ts';
import { FIXTURES, cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

const dir = join(FIXTURES, 'ansible-yaml');

describe('Ansible YAML inventories', () => {
  it('is told apart from our form by content, and walks all/children/hosts', async () => {
    const inv = await loadInventory(dir);
    expect([...inv.hosts.keys()]).toEqual(['bastion', 'pg1', 'pg2', 'haproxy1']);
    expect([...inv.groups.keys()]).toEqual(['all', 'postgres', 'lb', 'keepalived', 'ungrouped']);
    expect(inv.groups.get('lb')!).toMatchObject({ hosts: ['haproxy1'], children: ['keepalived'] });
    expect(inv.hosts.get('haproxy1')!.groups).toEqual(['all', 'lb', 'keepalived']);
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['bastion']);
  });

  it('maps and coerces connection vars at every level; host_vars win', async () => {
    const inv = await loadInventory(dir);
    expect(inv.hosts.get('pg2')!.connection).toMatchObject({ address: '127.0.0.1', port: 2201, become: true, user: 'deploy' });
    expect(inv.hosts.get('pg1')!.connection.port).toBe(2301);
    expect(inv.hosts.get('bastion')!.connection).toMatchObject({ address: '10.213.7.5', port: 22, become: false });
    expect(inv.hosts.get('pg1')!.vars).not.toHaveProperty('ansible_port');
    const key = inv.hosts.get('pg1')!.vars.api_key;
    expect(isSecret(key) && key.reveal()).toBe('plain-api-key-3');
    expect(inv.hosts.get('haproxy1')!.vars.vip).toBe('10.213.7.100');
  });

  it('reports unknown keys in a group with file, group and field', async () => {
    const d = tmpInventory({ 'hosts.yml': 'all:\n  children:\n    pg:\n      host:\n        pg1:\n' });
    const e = await errorOf(() => loadInventory(d));
    expect(e.message).toBe(`${join(d, 'hosts.yml')}: group pg: host: unknown key (expected hosts, children, vars)`);
  });

  it('refuses ansible-vault values with a pointer to secrets', async () => {
    const d = tmpInventory({
      'hosts.yml': 'all:\n  hosts:\n    pg1:\n      db_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n',
    });
    const e = await errorOf(() => loadInventory(d));
    expect(e.message).toContain(`${join(d, 'hosts.yml')}: host pg1: db_password: ansible-vault encrypted values are not supported`);
  });
});
