/**
 * Role vars mistakes caught at plan time, before any connection: strict schemas at every
 * level with "did you mean", unknown top-level keys, one line per mistake, typed addresses
 * and networks, and the checks between roles.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.ts';
import { defineRole, type Role } from '../../src/engine/role.ts';
import { definePlay, type Playbook } from '../../src/engine/play.ts';
import { planPlaybook, planWarnings } from '../../src/engine/run.ts';
import { KNOWN_ROLE_NAMES } from '../../src/engine/vars.ts';
import { InputError } from '../../src/core/errors.ts';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { PostgresVarsSchema } from '../../roles/postgres/vars.ts';
import { EtcdVarsSchema } from '../../roles/etcd/vars.ts';
import { HaproxyVarsSchema } from '../../roles/haproxy/vars.ts';
import { KeepalivedVarsSchema } from '../../roles/keepalived/vars.ts';
import { PgbackrestVarsSchema } from '../../roles/pgbackrest/vars.ts';
import { cleanupTmp, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

const role = (name: string, vars: Role['vars']): Role => defineRole({ name, vars, tasks: () => [] }) as unknown as Role;
const patroni = role('patroni', PatroniVarsSchema);
const postgres = role('postgres', PostgresVarsSchema);
const etcd = role('etcd', EtcdVarsSchema);
const haproxy = role('haproxy', HaproxyVarsSchema);
const keepalived = role('keepalived', KeepalivedVarsSchema);
const pgbackrest = role('pgbackrest', PgbackrestVarsSchema);

const site: Playbook = {
  kind: 'playbook',
  name: 'site',
  steps: [
    definePlay({ name: 'balancers', hosts: 'balancers', roles: [haproxy, keepalived] }),
    definePlay({ name: 'etcd', hosts: 'etcd', roles: [etcd] }),
    definePlay({ name: 'postgres', hosts: 'postgres', roles: [postgres] }),
    definePlay({ name: 'patroni', hosts: 'postgres', roles: [patroni] }),
    definePlay({ name: 'backup', hosts: 'postgres:backup', roles: [pgbackrest] }),
  ],
};

const HOSTS = `
hosts:
  pg1: { address: 192.0.2.11 }
  pg2: { address: 192.0.2.12 }
  pg3: { address: 192.0.2.13 }
  lb1: { address: 192.0.2.21 }
  lb2: { address: 192.0.2.22 }
  backup1: { address: backup1.example.net }
groups:
  postgres: { hosts: [pg1, pg2, pg3] }
  etcd: { hosts: [pg1, pg2, pg3] }
  balancers: { hosts: [lb1, lb2] }
  backup: { hosts: [backup1] }
`;

const PATRONI = `
patroni:
  restapi: { password: { secret: { value: api-pass-1 } } }
  authentication:
    superuser: { password: { secret: { value: super-pass-1 } } }
    replication: { password: { secret: { value: repl-pass-1 } } }
    rewind: { password: { secret: { value: rewind-pass-1 } } }
`;

const BALANCERS = `
keepalived: { virtualIp: 192.0.2.10, prefix: 24 }
`;

/** The problems planPlaybook reports for an inventory made of `files` over the good base. */
async function plan(files: Record<string, string>, pb: Playbook = site): Promise<{ problems: string[]; warnings: string[] }> {
  const dir = tmpInventory({
    'hosts.yml': HOSTS,
    'group_vars/postgres.yml': PATRONI,
    'group_vars/balancers.yml': BALANCERS,
    ...files,
  });
  const inv = await loadInventory(dir);
  try {
    const planned = planPlaybook(pb, inv);
    return { problems: [], warnings: planWarnings(planned).map((w) => w.message) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    // Paths relative to the temporary directory, for readable expectations.
    return { problems: e.problems.map((p) => p.split(dir + '/').join('')), warnings: [] };
  }
}

describe('role vars: strict at every level, with "did you mean"', () => {
  it('the good base inventory plans', async () => {
    expect((await plan({})).problems).toEqual([]);
  });

  it('a misspelled key at any depth is an error naming file, host and key, with the close one', async () => {
    const { problems } = await plan({
      'group_vars/postgres.yml': `${PATRONI}  dcs: { tll: 30 }\n  sope: main\npostgres: { verison: 15 }\n`,
      'group_vars/etcd.yml': 'etcd: { clientport: 2379 }\n',
    });
    expect(problems).toContain('group_vars/postgres.yml: hosts pg1, pg2, pg3: patroni.dcs.tll: unknown key (did you mean "ttl"?)');
    expect(problems).toContain('group_vars/postgres.yml: hosts pg1, pg2, pg3: patroni.sope: unknown key (did you mean "scope"?)');
    expect(problems).toContain('group_vars/postgres.yml: hosts pg1, pg2, pg3: postgres.verison: unknown key (did you mean "version"?)');
    expect(problems).toContain('group_vars/etcd.yml: hosts pg1, pg2, pg3: etcd.clientport: unknown key (did you mean "clientPort"?)');
  });

  it('a key one level too high says where it belongs', async () => {
    const { problems } = await plan({ 'host_vars/pg1.yml': 'patroni: { ttl: 30, loop_wait: 10 }\n' });
    expect(problems).toContain('host_vars/pg1.yml: host pg1: patroni.ttl: unknown key (it belongs under dcs: patroni.dcs.ttl)');
    expect(problems).toContain('host_vars/pg1.yml: host pg1: patroni.loop_wait: unknown key (it belongs under dcs: patroni.dcs.loopWait)');
  });

  it('nested objects of every role are strict (postgres.pgdg, patroni.restapi, patroni.authentication.*)', async () => {
    const { problems } = await plan({
      'host_vars/pg2.yml': 'postgres: { pgdg: { repourl: x } }\npatroni: { restapi: { prot: 1 }, authentication: { superuser: { usename: x } } }\n',
    });
    expect(problems).toContain('host_vars/pg2.yml: host pg2: postgres.pgdg.repourl: unknown key (did you mean "repoUrl"?)');
    expect(problems).toContain('host_vars/pg2.yml: host pg2: patroni.restapi.prot: unknown key (did you mean "port"?)');
    expect(problems).toContain('host_vars/pg2.yml: host pg2: patroni.authentication.superuser.usename: unknown key (did you mean "username"?)');
  });

  it('dcs.parameters stays a free map of settings, but names and values are typed', async () => {
    const ok = await plan({ 'host_vars/pg1.yml': 'patroni: { dcs: { parameters: { max_connections: 200, shared_buffers: 512MB, pg_stat_statements.track: all, wal_compression: null } } }\n' });
    expect(ok.problems).toEqual([]);
    const bad = await plan({ 'host_vars/pg1.yml': 'patroni: { dcs: { parameters: { max_connections: [1], "bad name": 1 } } }\n' });
    expect(bad.problems).toContain('host_vars/pg1.yml: host pg1: patroni.dcs.parameters.max_connections: expected a setting value: a string, a number, a boolean, or null to drop it');
    expect(bad.problems.some((p) => /patroni\.dcs\.parameters\.bad name: .*setting name/.test(p))).toBe(true);
  });

  it('the field is attributed to the file that set it, not the last file that touched the role', async () => {
    const { problems } = await plan({
      'group_vars/postgres.yml': `${PATRONI}  dcs: { tll: 30 }\n`,
      'host_vars/pg1.yml': 'patroni: { scope: pg-cluster }\n',
    });
    expect(problems).toEqual(['group_vars/postgres.yml: hosts pg1, pg2, pg3: patroni.dcs.tll: unknown key (did you mean "ttl"?)']);
  });
});

describe('top-level var keys', () => {
  it('a key that is no role and not in the user namespace is refused once, listing the hosts', async () => {
    const { problems } = await plan({ 'group_vars/all.yml': 'patrony: { scope: main }\nx_site: lab\n' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^group_vars\/all\.yml: hosts pg1, pg2, pg3, lb1, lb2, backup1: patrony: unknown key \(did you mean "patroni"\?\)/);
  });

  it('role names of the playbook, of roles/ and rollout, lab and x_ keys are accepted', async () => {
    const { problems } = await plan({ 'group_vars/all.yml': 'chrony: { pools: [] }\nrollout: { maxLagBytes: 5 }\nlab: { instance: x }\nx_owner: dba-team\n' });
    expect(problems).toEqual([]);
    const withDemo = await plan({ 'host_vars/pg1.yml': 'demo: { a: 1 }\n' }, { ...site, steps: [...site.steps, definePlay({ name: 'd', hosts: 'pg1', roles: [role('demo', PostgresVarsSchema.partial())] })] });
    expect(withDemo.problems).toEqual(['host_vars/pg1.yml: host pg1: demo.a: unknown key']);
  });

  it('KNOWN_ROLE_NAMES is every role in roles/ plus the day-2 rollout vars', () => {
    const dir = join(import.meta.dirname, '..', '..', 'roles');
    const roles = readdirSync(dir).filter((d) => existsSync(join(dir, d, 'index.ts')));
    for (const r of roles) expect(readFileSync(join(dir, r, 'index.ts'), 'utf8')).toContain(`name: '${r}'`);
    expect([...KNOWN_ROLE_NAMES].sort()).toEqual([...roles, 'rollout'].sort());
    expect(readFileSync(join(dir, '..', 'playbooks', 'day2', 'lib', 'vars.ts'), 'utf8')).toContain("name: 'rollout'");
  });
});

describe('addresses and networks', () => {
  it('host addresses are IPs or host names', async () => {
    const dir = tmpInventory({ 'hosts.yml': 'hosts:\n  a: { address: "192.0.2.300" }\n  b: { address: "db_1.example" }\n  c: { address: "db1.example.net" }\n  d: { address: "fd00::5" }\n' });
    const e = await loadInventory(dir).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain('host a: address: expected an IPv4/IPv6 address or a DNS host name');
    expect((e as Error).message).toContain('host b: address: expected an IPv4/IPv6 address or a DNS host name');
    expect((e as Error).message).not.toContain('host c');
    expect((e as Error).message).not.toContain('host d');
  });

  it('CIDR vars: blanks and host bits refused, the right network named', async () => {
    const { problems } = await plan({ 'host_vars/pg1.yml': 'patroni: { hba: { clientNetworks: ["10.0.2.0 /24", 10.0.2.5/24, 10.0.3.0/24, 10.0.4.7] } }\n' });
    expect(problems).toContain('host_vars/pg1.yml: host pg1: patroni.hba.clientNetworks[0]: expected a network like 10.0.2.0/24 without blanks, got "10.0.2.0 /24"');
    expect(problems).toContain('host_vars/pg1.yml: host pg1: patroni.hba.clientNetworks[1]: host bits set in 10.0.2.5/24: the network is 10.0.2.0/24');
    expect(problems).toHaveLength(2);
  });

  it('patroni.address, etcd.address and the virtual IP are typed', async () => {
    const { problems } = await plan({
      'host_vars/pg1.yml': 'patroni: { address: "10.0.1" }\netcd: { address: "pg 1" }\n',
      'group_vars/balancers.yml': 'keepalived: { virtualIp: 192.0.2.256 }\n',
    });
    expect(problems.some((p) => p.startsWith('host_vars/pg1.yml: host pg1: patroni.address: expected an IPv4/IPv6 address or a DNS host name'))).toBe(true);
    expect(problems.some((p) => p.startsWith('host_vars/pg1.yml: host pg1: etcd.address: expected'))).toBe(true);
    expect(problems).toContain('group_vars/balancers.yml: hosts lb1, lb2: keepalived.virtualIp: expected an IPv4 address');
  });
});

describe('cross-checks between roles', () => {
  it('postgres.version vs patroni.postgresVersion on one host', async () => {
    const { problems } = await plan({ 'host_vars/pg3.yml': 'postgres: { version: 16 }\n' });
    expect(problems).toEqual([
      "host_vars/pg3.yml: host pg3: postgres.version: 16 but patroni.postgresVersion is unset (the host release's): Patroni would run the binaries of a version not installed; keep them equal (set both or neither)",
    ]);
  });

  it('pgbackrest.pg.path follows Patroni\'s data directory', async () => {
    const { problems } = await plan({ 'group_vars/all.yml': 'postgres: { version: 16 }\n', 'group_vars/postgres.yml': `${PATRONI}  postgresVersion: 16\n` });
    expect(problems).toEqual([
      "group_vars/postgres.yml: hosts pg1, pg2, pg3: pgbackrest.pg.path: unset (the host release's) but Patroni's data directory for PostgreSQL 16 is /var/lib/postgresql/16/main: backups would read another directory; keep them equal",
    ]);
    expect((await plan({ 'group_vars/all.yml': 'postgres: { version: 16 }\npgbackrest: { pg: { path: /var/lib/postgresql/16/main } }\n', 'group_vars/postgres.yml': `${PATRONI}  postgresVersion: 16\n` })).problems).toEqual([]);
  });

  it('ports colliding on a host that plays several roles', async () => {
    const dir = HOSTS.replace('balancers: { hosts: [lb1, lb2] }', 'balancers: { hosts: [pg1, pg2] }');
    const { problems } = await plan({ 'hosts.yml': dir, 'group_vars/balancers.yml': 'keepalived: { virtualIp: 192.0.2.10 }\nhaproxy: { primaryPort: 5432 }\n' });
    expect(problems).toContain('group_vars/postgres.yml: hosts pg1, pg2: port 5432: haproxy.primaryPort and patroni.postgresql.port would both listen on it; give one another port');
    const etcdClash = await plan({ 'group_vars/etcd.yml': 'etcd: { clientPort: 8008 }\n' });
    expect(etcdClash.problems[0]).toMatch(/hosts pg1, pg2, pg3: port 8008: patroni\.restapi\.port and etcd\.clientPort would both listen on it/);
  });

  it('etcd group: missing or empty is an error, even-sized a warning', async () => {
    const even = await plan({ 'hosts.yml': HOSTS.replace('etcd: { hosts: [pg1, pg2, pg3] }', 'etcd: { hosts: [pg1, pg2] }') });
    expect(even.problems).toEqual([]);
    expect(even.warnings.filter((w) => /etcd group "etcd" has 2 members/.test(w))).toHaveLength(1);
    const missing = await plan({ 'host_vars/pg1.yml': 'patroni: { groups: { etcd: etcd-cluster } }\n' });
    expect(missing.problems).toContain('host_vars/pg1.yml: patroni.groups.etcd: group "etcd-cluster" is not in the inventory: etcd needs members (3 or 5)');
  });

  it('patroni scope the same on every member', async () => {
    const { problems } = await plan({ 'host_vars/pg3.yml': 'patroni: { scope: pg-clutser }\n' });
    expect(problems).toEqual([
      'patroni.scope: hosts of group "postgres" disagree: "pg-cluster" on pg1, pg2 (group_vars/postgres.yml); "pg-clutser" on pg3 (host_vars/pg3.yml): every member of one cluster has the same scope',
    ]);
  });

  it('the virtual IP: outside the lab subnet an error, outside the balancers\' network a warning', async () => {
    const lab = await plan({ 'group_vars/all.yml': 'lab: { subnet: 192.0.2.0/24 }\n', 'group_vars/balancers.yml': 'keepalived: { virtualIp: 10.0.9.10 }\n' });
    expect(lab.problems).toContain('group_vars/balancers.yml: hosts lb1, lb2: keepalived.virtualIp: 10.0.9.10 is outside the subnet 192.0.2.0/24 (lab.subnet): no client on it could reach it');
    const taken = await plan({ 'group_vars/balancers.yml': 'keepalived: { virtualIp: 192.0.2.13 }\n' });
    expect(taken.problems).toEqual(['group_vars/balancers.yml: hosts lb1, lb2: keepalived.virtualIp: 192.0.2.13 is the address of host pg3; pick a free address']);
    const net = await plan({ 'group_vars/balancers.yml': 'keepalived: { virtualIp: 10.0.9.10 }\n' });
    expect(net.problems).toEqual([]);
    expect(net.warnings.join('\n')).toContain("does not contain lb1's address 192.0.2.21");
  });

  it('HAProxy routes to the ports Patroni listens on', async () => {
    const { problems } = await plan({ 'host_vars/pg2.yml': 'patroni: { postgresql: { port: 5433 } }\npgbackrest: { pg: { port: 5433 } }\n' });
    expect(problems).toEqual([
      'host_vars/pg2.yml: host pg2: patroni.postgresql.port: 5433 but haproxy.postgresPort is 5432 on lb1 (its default): HAProxy would check and route to the wrong port',
    ]);
  });
});

describe('Ansible inventories keep their other vars', () => {
  it('only a top-level key close to a known one is refused there', async () => {
    const dir = tmpInventory({
      'hosts': '[postgres]\npg1 ansible_host=192.0.2.11\n',
      'group_vars/postgres.yml': `${PATRONI}ntp_servers: [a]\npatrony: { scope: x }\n`,
    });
    const inv = await loadInventory(dir);
    const pb: Playbook = { kind: 'playbook', name: 'p', steps: [definePlay({ name: 'p', hosts: 'postgres', roles: [patroni] })] };
    const e = (() => {
      try {
        planPlaybook(pb, inv);
      } catch (x) {
        return x as InputError;
      }
    })();
    expect(e?.problems).toHaveLength(1);
    expect(e?.problems[0]).toMatch(/group_vars\/postgres\.yml: host pg1: patrony: unknown key \(did you mean "patroni"\?\)/);
  });

  it('ansible_host must be an address', async () => {
    const dir = tmpInventory({ 'hosts': '[postgres]\npg1 ansible_host="10.0.1 .11"\n' });
    await expect(loadInventory(dir)).rejects.toThrow(/host pg1: ansible_host: expected an IPv4\/IPv6 address or a DNS host name/);
  });
});
