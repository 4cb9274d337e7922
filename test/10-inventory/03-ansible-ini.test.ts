import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { isSecret } from '../../src/core/secret.ts';
import { FIXTURES, cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

const dir = join(FIXTURES, 'ansible-ini');
const load = () => loadInventory(dir, { env: { HOME: '/home/tester' } });

describe('Ansible INI inventories', () => {
  it('reads sections, children, ranges and host:port, in inventory order', async () => {
    const inv = await load();
    expect([...inv.hosts.keys()]).toEqual(['lonely', 'pg1', 'pg2', 'pg3', 'pg4', 'etcd1']);
    expect(inv.groups.get('postgres')!.hosts).toEqual(['pg1', 'pg2', 'pg3', 'pg4']);
    expect(inv.groups.get('db')!.children).toEqual(['postgres', 'etcd']);
    expect(inv.groups.get('db')!.hosts).toEqual(['pg1', 'pg2', 'pg3', 'pg4', 'etcd1']);
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['lonely']);
    expect(inv.hosts.get('lonely')!.groups).toEqual(['all', 'ungrouped']);
    expect(inv.hosts.get('etcd1')!.groups).toEqual(['all', 'etcd', 'db']);
  });

  it('maps ansible_* vars to the connection and converts INI strings', async () => {
    const inv = await load();
    expect(inv.hosts.get('pg1')!.connection).toMatchObject({
      address: '127.0.0.1',
      user: 'admin', // host line beats [all:vars]
      port: 2200, // "2200" from [postgres:vars]
      become: false, // "no"
      privateKey: '/home/tester/.ssh/id_db',
      connectTimeoutMs: 7000,
      transport: 'ssh',
    });
    // host line (pg4:2222, ansible_become=yes) beats [postgres:vars]
    expect(inv.hosts.get('pg4')!.connection).toMatchObject({ address: '10.213.7.14', port: 2222, become: true, user: 'root' });
    expect(inv.hosts.get('etcd1')!.connection.transport).toBe('local');
    expect(inv.hosts.get('lonely')!.connection).toMatchObject({ address: '10.213.7.99', user: 'root', port: 22, become: false });
  });

  it('keeps ansible_* out of vars and types host-line values like Ansible', async () => {
    const inv = await load();
    for (const h of inv.hosts.values()) expect(Object.keys(h.vars).filter((k) => k.startsWith('ansible_'))).toEqual([]);
    for (const g of inv.groups.values()) expect(Object.keys(g.vars).filter((k) => k.startsWith('ansible_'))).toEqual([]);
    const pg4 = inv.hosts.get('pg4')!.vars;
    expect(pg4).toMatchObject({ weight: 3, label: 'two words', flag: true });
    // [group:vars] values stay strings, as in Ansible
    expect(pg4.patroni_ttl).toBe('30');
    expect(inv.hosts.get('lonely')!.vars.timeout_s).toBe('10');
  });

  it('reads group_vars (YAML 1.1, dirs of files in name order) and extension-less host_vars', async () => {
    const inv = await load();
    const pg2 = inv.hosts.get('pg2')!;
    expect(pg2.vars.archive_mode).toBe(true);
    expect(pg2.vars.layer).toBe('extra');
    expect(pg2.vars.ntp).toEqual(['10.213.7.1']);
    expect(pg2.vars.node_id).toBe(2);
    expect(pg2.origins.layer).toBe('test/fixtures/inventories/ansible-ini/group_vars/all/20-extra.yml');
    expect(pg2.origins.patroni_ttl).toBe('test/fixtures/inventories/ansible-ini/hosts:11 (group postgres)');
    const pw = pg2.vars.db_password;
    expect(isSecret(pw) && pw.reveal()).toBe('plain-ini-pass-2');
  });

  it('accepts ranges with padding, letters and steps', async () => {
    const d = tmpInventory({ 'inv.ini': '[a]\ndb[01:03:2]\nnode-[x:z]\n' });
    const inv = await loadInventory(join(d, 'inv.ini'));
    expect([...inv.hosts.keys()]).toEqual(['db01', 'db03', 'node-x', 'node-y', 'node-z']);
  });

  it('names file, line, host and field for a bad port or become value', async () => {
    const d = tmpInventory({ hosts: '[pg]\npg1 ansible_port=abc\npg2 ansible_become=maybe\n' });
    const e = await errorOf(() => loadInventory(d));
    expect(e.message).toContain(`${join(d, 'hosts')}:2: host pg1: ansible_port: expected a port number, got "abc"`);
    expect(e.message).toContain(`${join(d, 'hosts')}:3: host pg2: ansible_become: expected a boolean (true/false, yes/no, 1/0), got "maybe"`);
  });

  it('rejects malformed lines with the line number', async () => {
    const d = tmpInventory({ hosts: '[pg:weird]\n[pg]\npg1 novalue\n' });
    const e = await errorOf(() => loadInventory(d));
    expect(e.message).toContain(`${join(d, 'hosts')}:1: invalid section [pg:weird]`);
    expect(e.message).toContain(`${join(d, 'hosts')}:3: host pg1: expected key=value, got "novalue"`);
  });

  it('rejects an unsupported ansible_connection', async () => {
    const d = tmpInventory({ 'hosts.ini': 'c1 ansible_connection=docker\n' });
    const e = await errorOf(() => loadInventory(d));
    expect(e.message).toContain('host c1: ansible_connection: expected ssh or local');
  });
});
