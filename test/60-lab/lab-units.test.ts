/**
 * The lab's pure parts, no root needed: address allocation, the inventory it writes (loaded
 * back through rigger's own loader), secrets, and the error when the mirror is unreachable.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/index.ts';
import type { Instance } from '../../src/lab/instance.ts';
import { renderInventory, writeInventory } from '../../src/lab/inventory.ts';
import { checkMirror } from '../../src/lab/prereqs.ts';
import { LabError } from '../../src/lab/run.ts';
import { ensureSecrets, LAB_SECRETS } from '../../src/lab/secrets.ts';
import { colocatedTopology, defaultGroups, defaultTopology, pickAddress, topologyHosts } from '../../src/lab/topology.ts';

function fakeInstance(dir: string): Instance {
  return {
    name: 'unit', octet: 9, bridge: 'rig-unit', subnet: '10.213.9.0/24', prefix: 24, gateway: '10.213.9.1', vip: '10.213.9.100',
    dir, hostsDir: join(dir, 'hosts'), privateKey: join(dir, 'id_ed25519'), knownHosts: join(dir, 'known_hosts'),
    secretsDir: join(dir, 'secrets'), statePath: join(dir, 'lab.json'), lockPath: join(dir, 'lock'),
    inventoryDir: join(dir, 'inventory'), inventoryPath: join(dir, 'inventory', 'hosts.yml'), ruleTag: 'rigger-lab:unit',
  };
}

describe('lab addresses', () => {
  const taken = new Set(defaultTopology().map((h) => h.last));

  it('gives pgN .10+N and lbN .20+N, others the next free address from .31', () => {
    expect(pickAddress('pg4', taken)).toBe(14);
    expect(pickAddress('lb3', taken)).toBe(23);
    expect(pickAddress('t1', taken)).toBe(32); // .31 is backup1
    expect(pickAddress('t2', new Set([...taken, 32]))).toBe(33);
  });

  it('never hands out the gateway or the VIP, and refuses a taken pg slot', () => {
    const upTo99 = new Set(Array.from({ length: 99 }, (_, i) => i + 1));
    expect(pickAddress('x', upTo99)).toBe(101);
    expect(() => pickAddress('pg1', taken)).toThrow(LabError);
  });

  it('puts pgN in postgres only, lbN in balancers, others nowhere', () => {
    expect(defaultGroups('pg4')).toEqual(['postgres']);
    expect(defaultGroups('lb3')).toEqual(['balancers']);
    expect(defaultGroups('t1')).toEqual([]);
  });
});

describe('lab inventory', () => {
  it('is our inventory format and loads with the inventory loader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-inv-'));
    try {
      const inst = fakeInstance(dir);
      const hosts = [...defaultTopology(), { name: 't1', last: 32, groups: [] }];
      const text = renderInventory(inst, hosts);
      expect(text.startsWith('# Written by `npm run lab -- up` (instance unit).')).toBe(true);
      expect(text).toContain('pg1: { address: 10.213.9.11 }');
      expect(text).toContain('balancers: { hosts: [ lb1, lb2 ], vars: { keepalived: { virtualIp: 10.213.9.100, prefix: 24 } } }');
      writeFileSync(join(dir, 'hosts.yml'), text);
      const inv = await loadInventory(dir);
      expect([...inv.hosts.keys()]).toEqual(['pg1', 'pg2', 'pg3', 'lb1', 'lb2', 'backup1', 't1']);
      const pg2 = inv.hosts.get('pg2')!;
      expect(pg2.connection).toMatchObject({ address: '10.213.9.12', user: 'root', knownHosts: inst.knownHosts, privateKey: inst.privateKey });
      expect(pg2.groups).toEqual(expect.arrayContaining(['postgres', 'etcd']));
      expect(inv.hosts.get('lb1')!.vars).toMatchObject({ keepalived: { virtualIp: '10.213.9.100', prefix: 24 }, lab: { instance: 'unit', subnet: '10.213.9.0/24' } });
      expect(inv.groups.get('backup')!.hosts).toEqual(['backup1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab topologies', () => {
  it('colocated: balancers on the database hosts, etcd on three hosts of its own, a backup host', () => {
    expect(topologyHosts('default')).toEqual(defaultTopology());
    const hosts = topologyHosts('colocated');
    expect(hosts).toEqual(colocatedTopology());
    const inGroup = (g: string) => hosts.filter((h) => h.groups.includes(g)).map((h) => h.name);
    expect(inGroup('postgres')).toEqual(['pg1', 'pg2', 'pg3']);
    expect(inGroup('balancers')).toEqual(['pg1', 'pg2', 'pg3']);
    expect(inGroup('etcd')).toEqual(['etcd1', 'etcd2', 'etcd3']);
    expect(inGroup('backup')).toEqual(['backup1']);
    // `lab add pg4` still finds its slot.
    expect(pickAddress('pg4', new Set(hosts.map((h) => h.last)))).toBe(14);
  });

  it('an instance other than lab gets group_vars with its own secret files and bridge, and the inventory loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-topo-'));
    try {
      const inst = fakeInstance(dir);
      ensureSecrets(inst.secretsDir);
      writeInventory(inst, colocatedTopology());
      const inv = await loadInventory(inst.inventoryDir);
      const pg1 = inv.hosts.get('pg1')!;
      expect(pg1.groups).toEqual(expect.arrayContaining(['postgres', 'balancers']));
      expect(pg1.vars).toMatchObject({ chrony: { servers: [{ host: '10.213.9.1' }] }, keepalived: { virtualIp: '10.213.9.100' } });
      expect(readFileSync(join(inst.inventoryDir, 'group_vars', 'postgres.yml'), 'utf8')).toContain(`file: ${join(inst.secretsDir, 'pg-superuser')}`);
      expect(inv.hosts.get('etcd1')!.groups.filter((g) => g !== 'all')).toEqual(['etcd']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab secrets', () => {
  it('are made once: 24 alphanumerics, mode 0600, kept on the next call', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-sec-'));
    try {
      const secrets = join(dir, 'secrets');
      expect(ensureSecrets(secrets)).toEqual([...LAB_SECRETS]);
      const first = readFileSync(join(secrets, 'pg-superuser'), 'utf8');
      expect(first).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(statSync(join(secrets, 'pg-superuser')).mode & 0o777).toBe(0o600);
      expect(ensureSecrets(secrets)).toEqual([]);
      expect(readFileSync(join(secrets, 'pg-superuser'), 'utf8')).toBe(first);
      expect(readFileSync(join(secrets, 'pg-replication'), 'utf8')).not.toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab prerequisites', () => {
  it('says what to fix when the Debian mirror cannot be reached', async () => {
    // A closed port on loopback stands in for a machine without access.
    const err = await checkMirror('http://127.0.0.1:9/debian').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).message).toContain('cannot reach the Debian mirror');
    expect((err as LabError).fix).toContain('deb.debian.org');
  });
});
