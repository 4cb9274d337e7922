import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { isSecret } from '../../src/core/secret.ts';
import { FIXTURES } from './support.ts';

const dir = join(FIXTURES, 'ours');
const env = { HOME: '/home/tester', RIGGER_TEST_PG_SUPER: 'super-from-env-77' };
const load = () => loadInventory(dir, { env });
const rel = (p: string) => join('test/fixtures/inventories/ours', p);

describe('our YAML form: a directory with hosts.yml, group_vars, host_vars', () => {
  it('keeps hosts and groups in inventory order, with `all` implicit', async () => {
    const inv = await load();
    expect([...inv.hosts.keys()]).toEqual(['pg1', 'pg2', 'pg3', 'backup1', 'local']);
    expect([...inv.groups.keys()]).toEqual(['all', 'postgres', 'replicas', 'db', 'backup']);
    expect(inv.groups.get('all')!.hosts).toEqual(['pg1', 'pg2', 'pg3', 'backup1', 'local']);
    expect(inv.groups.get('db')!.hosts).toEqual(['pg1', 'pg2', 'pg3', 'backup1']);
    expect(inv.groups.get('db')!.children).toEqual(['postgres', 'backup']);
    expect(inv.hosts.get('pg2')!.groups).toEqual(['all', 'postgres', 'replicas', 'db']);
    expect(inv.hosts.get('local')!.groups).toEqual(['all']);
  });

  it('applies connection defaults, inventory-wide settings and host overrides', async () => {
    const inv = await load();
    expect(inv.hosts.get('pg1')!.connection).toEqual({
      address: '10.213.7.11',
      port: 22,
      user: 'admin',
      privateKey: join(dir, 'keys/id_ed25519'),
      become: true,
      knownHosts: join(dir, 'known_hosts'),
      acceptNewHostKeys: false,
      insecureSkipHostKeyCheck: false,
      connectTimeoutMs: 5000,
      transport: 'ssh',
    });
    expect(inv.hosts.get('pg2')!.connection.port).toBe(2222);
    expect(inv.hosts.get('pg3')!.connection).toMatchObject({ user: 'root', become: false });
    expect(inv.hosts.get('local')!.connection).toMatchObject({ transport: 'local', address: 'local' });
  });

  it('lets loader options (command-line flags) set known_hosts and host key policy', async () => {
    const inv = await loadInventory(dir, { env, knownHosts: '~/kh', acceptNewHostKeys: true });
    expect(inv.hosts.get('pg1')!.connection).toMatchObject({ knownHosts: '/home/tester/kh', acceptNewHostKeys: true, insecureSkipHostKeyCheck: false });
  });

  it('merges vars by precedence: vars < group_vars/all < groups by depth < host inline < host_vars', async () => {
    const inv = await load();
    const pg1 = inv.hosts.get('pg1')!;
    // host_vars/pg1.yml beats everything; objects deep-merge, arrays replace
    expect(pg1.vars.node_id).toBe(101);
    expect(pg1.vars.patroni).toEqual({ ttl: 15, loop_wait: 5, tags: ['b', 'c'] });
    expect(pg1.vars.cluster_name).toBe('from-group-vars-all');
    expect(pg1.vars.site).toBe('lab');
    // postgres (depth 2, child of db) beats db (depth 1) although db comes later in the file
    expect(pg1.vars.role_label).toBe('from-postgres-inline');
    expect(pg1.vars.tier).toBe('db');
    // YAML 1.2 in our form: `on` is a string
    expect(pg1.vars.archive_mode).toBe('on');

    const pg2 = inv.hosts.get('pg2')!;
    // same depth (replicas, db): inventory order, the later group wins
    expect(pg2.vars.same_depth).toBe('from-db');
    expect(pg2.vars.node_id).toBe(2);
    // a group's group_vars file beats its inline vars
    expect(pg2.vars.patroni).toEqual({ ttl: 25, loop_wait: 5, tags: ['b', 'c'] });

    const backup1 = inv.hosts.get('backup1')!;
    expect(backup1.vars.patroni).toEqual({ ttl: 30, loop_wait: 5, tags: ['a'] });
    expect(backup1.vars.role_label).toBe('from-db-inline');
    expect(backup1.vars).not.toHaveProperty('pg_port');
  });

  it('records the source that set each top-level var last', async () => {
    const inv = await load();
    const o = inv.hosts.get('pg1')!.origins;
    expect(o.node_id).toBe(rel('host_vars/pg1.yml'));
    expect(o.patroni).toBe(rel('host_vars/pg1.yml'));
    expect(o.cluster_name).toBe(rel('group_vars/all.yml'));
    expect(o.site).toBe(rel('hosts.yml'));
    expect(o.role_label).toBe(`${rel('hosts.yml')} (group postgres)`);
    expect(o.pg_port).toBe(rel('group_vars/postgres.yml'));
    expect(inv.hosts.get('pg2')!.origins.superuser_password).toBe(rel('host_vars/pg2.yaml'));
  });

  it('gives each host its own copy of shared objects', async () => {
    const inv = await load();
    (inv.hosts.get('pg3')!.vars.patroni as { ttl: number }).ttl = 1;
    expect((inv.hosts.get('pg2')!.vars.patroni as { ttl: number }).ttl).toBe(25);
  });

  it('resolves env secrets and wraps sensitive plain strings', async () => {
    const inv = await load();
    const pw = inv.hosts.get('pg2')!.vars.superuser_password;
    expect(isSecret(pw) && pw.reveal()).toBe('super-from-env-77');
    const repl = inv.hosts.get('pg1')!.vars.replication_password;
    expect(isSecret(repl) && repl.reveal()).toBe('plain-inline-pass-1');
    expect(inv.hosts.get('pg1')!.vars).not.toHaveProperty('superuser_password');
  });

  it('exposes group vars (inline then group_vars file) on the group', async () => {
    const inv = await load();
    expect(inv.groups.get('postgres')!.vars).toMatchObject({ patroni: { ttl: 25, tags: ['b', 'c'] }, role_label: 'from-postgres-inline', pg_port: 5432 });
    expect(inv.groups.get('all')!.vars).toMatchObject({ cluster_name: 'from-group-vars-all', site: 'lab' });
  });

  it('loads a single YAML file', async () => {
    const inv = await loadInventory(join(FIXTURES, 'single.yml'), { env });
    expect([...inv.hosts.keys()]).toEqual(['solo']);
    expect(inv.hosts.get('solo')!.connection).toMatchObject({ address: '127.0.0.1', port: 2222, user: 'root', knownHosts: '/home/tester/.ssh/known_hosts' });
    expect(inv.hosts.get('solo')!.groups).toEqual(['all', 'g']);
  });
});
