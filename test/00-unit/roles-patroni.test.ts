import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Group, Host, Inventory } from '../../src/inventory/types.ts';
import { Secret } from '../../src/core/secret.ts';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { dcsConfigOf, hbaAddress, patroniConfigFor, renderPatroniYaml, renderUnit, withRelease } from '../../roles/patroni/render.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import { changedParameters, dcsDiff, dcsPatch, describeChanges } from '../../roles/patroni/dcs.ts';
import { apiBaseOf, curlConfig, describeCluster, leaderOf, parseCluster, parseSelf } from '../../roles/patroni/live.ts';
import { gateProblem, maskPasswords, restartOrder } from '../../roles/patroni/rules.ts';
import { LOWERED_LIMITS_SQL, standbyLimitsLowered } from '../../roles/patroni/sql.ts';

function host(name: string, address: string, vars: Record<string, unknown> = {}): Host {
  return {
    name,
    connection: {
      address,
      port: 22,
      user: 'root',
      become: false,
      knownHosts: '/dev/null',
      acceptNewHostKeys: false,
      insecureSkipHostKeyCheck: false,
      connectTimeoutMs: 5000,
      transport: 'ssh',
    },
    groups: ['all'],
    vars,
    origins: {},
  };
}

const secrets = {
  restapi: { password: new Secret('api-Secret-1') },
  authentication: {
    superuser: { password: new Secret('super-Secret-2') },
    replication: { password: new Secret('on') },
    rewind: { password: new Secret('rewind-Secret-3') },
  },
};
// Members read each other's patroni vars (addresses) through the role's schema: they carry the secrets as an inventory would.
const hosts = [
  host('pg1', '10.213.7.11', { patroni: secrets }),
  host('pg2', '10.213.7.12', { patroni: secrets }),
  host('pg3', '10.213.7.13', { patroni: secrets }),
  host('lb1', '10.213.7.21'),
  host('lb2', '10.213.7.22'),
  host('backup1', '10.213.7.31'),
];
const group = (name: string, members: string[]): [string, Group] => [name, { name, hosts: members, children: [], vars: {} }];
const inv: Inventory = {
  source: 'test',
  hosts: new Map(hosts.map((h) => [h.name, h])),
  groups: new Map([
    group('postgres', ['pg1', 'pg2', 'pg3']),
    group('etcd', ['pg1', 'pg2', 'pg3']),
    group('balancers', ['lb1', 'lb2']),
    group('backup', ['backup1']),
  ]),
};

// Debian 12 facts: the paths of its PostgreSQL 15.
const vars = withRelease(PatroniVarsSchema.parse(secrets), placeholderFacts());
const text = renderPatroniYaml(patroniConfigFor(vars, hosts[1]!, inv));
// Parse the way Patroni does (YAML 1.1) to check what it will see.
const seen = parse(text, { version: '1.1' }) as Record<string, any>;

describe('patroni vars', () => {
  it('requires the four secrets', () => {
    const r = PatroniVarsSchema.safeParse({});
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'restapi',
        'authentication',
      ]),
    );
    const r2 = PatroniVarsSchema.safeParse({ ...secrets, restapi: { password: 'plain text' } });
    expect(r2.success).toBe(false);
    expect(r2.error!.issues[0]!.path.join('.')).toBe('restapi.password');
  });

  it('enforces loop_wait + 2 * retry_timeout <= ttl', () => {
    const r = PatroniVarsSchema.safeParse({ ...secrets, dcs: { ttl: 25 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain('dcs.ttl');
  });

  it('enforces the watchdog arithmetic (ttl - safety_margin - loop_wait > 0)', () => {
    const r = PatroniVarsSchema.safeParse({ ...secrets, dcs: { ttl: 40, loopWait: 20, retryTimeout: 10 }, watchdog: { safetyMargin: 20 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain('watchdog.safetyMargin');
    // With the watchdog off the same numbers are fine.
    expect(PatroniVarsSchema.safeParse({ ...secrets, dcs: { ttl: 40, loopWait: 20, retryTimeout: 10 }, watchdog: { mode: 'off', safetyMargin: 20 } }).success).toBe(true);
  });
});

describe('patroni.yml', () => {
  it('names the member and its addresses', () => {
    expect(seen).toMatchObject({
      scope: 'pg-cluster',
      namespace: '/service/',
      name: 'pg2',
      restapi: { listen: '0.0.0.0:8008', connect_address: '10.213.7.12:8008', authentication: { username: 'patroni', password: 'api-Secret-1' } },
      etcd3: { hosts: ['10.213.7.11:2379', '10.213.7.12:2379', '10.213.7.13:2379'] },
    });
    expect(seen['postgresql']).toMatchObject({
      listen: '0.0.0.0:5432',
      connect_address: '10.213.7.12:5432',
      data_dir: '/var/lib/postgresql/15/main',
      bin_dir: '/usr/lib/postgresql/15/bin',
      authentication: {
        superuser: { username: 'postgres', password: 'super-Secret-2' },
        replication: { username: 'replicator', password: 'on' },
        rewind: { username: 'rewind_user', password: 'rewind-Secret-3' },
      },
    });
  });

  it('has the seeds\' DCS settings', () => {
    expect(seen['bootstrap']['dcs']).toMatchObject({
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 10,
      maximum_lag_on_failover: 1048576,
      synchronous_mode: true,
      postgresql: { use_pg_rewind: true, use_slots: true },
    });
    expect(seen['bootstrap']['initdb']).toEqual([{ encoding: 'UTF8' }, 'data-checksums']);
  });

  it('keeps on/off strings strings under YAML 1.1 (wal_log_hints for pg_rewind)', () => {
    const p = seen['bootstrap']['dcs']['postgresql']['parameters'];
    expect(p['wal_log_hints']).toBe('on');
    expect(p['hot_standby']).toBe('on');
    expect(p['synchronous_commit']).toBe('on');
    expect(text).toMatch(/wal_log_hints: "on"/);
    // A password that reads as a YAML 1.1 boolean stays a string too.
    expect(seen['postgresql']['authentication']['replication']['password']).toBe('on');
  });

  it('allows replication from the members and clients from proxies and the backup host, all scram', () => {
    const hba: string[] = seen['postgresql']['pg_hba'];
    for (const a of ['11', '12', '13']) {
      expect(hba).toContain(`host replication replicator 10.213.7.${a}/32 scram-sha-256`);
      expect(hba).toContain(`host all all 10.213.7.${a}/32 scram-sha-256`);
    }
    // Patroni's local replication connection (timeline check before pg_rewind).
    expect(hba).toContain('host replication replicator 127.0.0.1/32 scram-sha-256');
    expect(hba).toContain('host all all 10.213.7.21/32 scram-sha-256');
    expect(hba).toContain('host all all 10.213.7.22/32 scram-sha-256');
    expect(hba).toContain('host all all 10.213.7.31/32 scram-sha-256');
    expect(hba.filter((l) => l.startsWith('host')).every((l) => l.endsWith('scram-sha-256'))).toBe(true);
    expect(hba.some((l) => /\b(md5|trust|password)\b/.test(l))).toBe(false);
  });

  it('has watchdog automatic with a 5 s margin, and the tags', () => {
    expect(seen['watchdog']).toEqual({ mode: 'automatic', device: '/dev/watchdog', safety_margin: 5 });
    expect(seen['tags']).toEqual({ nofailover: false, noloadbalance: false, clonefrom: false, nosync: false });
  });

  it('merges user parameters over the defaults; null drops one', () => {
    const v = PatroniVarsSchema.parse({ ...secrets, dcs: { parameters: { max_connections: 300, archive_mode: null, archive_command: null } } });
    const p = dcsConfigOf(v).postgresql.parameters;
    expect(p['max_connections']).toBe(300);
    expect(p['wal_log_hints']).toBe('on');
    expect('archive_mode' in p).toBe(false);
    expect(Object.keys(p)).toEqual([...Object.keys(p)].sort());
  });

  it('does not fold long lines', () => {
    const v = withRelease(PatroniVarsSchema.parse({ ...secrets, hba: { extra: [`host all all 192.168.0.0/16 scram-sha-256 ${'x'.repeat(150)}`] } }), placeholderFacts());
    const t = renderPatroniYaml(patroniConfigFor(v, hosts[0]!, inv));
    expect(t).toContain(`x`.repeat(150));
  });

  it('is stable text for the same input and puts no secret in the typed config\'s JSON', () => {
    expect(renderPatroniYaml(patroniConfigFor(vars, hosts[1]!, inv))).toBe(text);
    expect(JSON.stringify(patroniConfigFor(vars, hosts[1]!, inv))).not.toContain('super-Secret-2');
  });

  it('refuses a host outside the postgres group', () => {
    expect(() => patroniConfigFor(vars, hosts[3]!, inv)).toThrow(/not in the postgres group/);
  });

  it('derives Debian paths from the version', () => {
    const v = PatroniVarsSchema.parse({ ...secrets, postgresVersion: 16 });
    const c = patroniConfigFor(v, hosts[0]!, inv);
    expect(c.postgresql.data_dir).toBe('/var/lib/postgresql/16/main');
    expect(c.postgresql.bin_dir).toBe('/usr/lib/postgresql/16/bin');
  });

  it('turns addresses into pg_hba fields', () => {
    expect(hbaAddress('10.213.7.1')).toBe('10.213.7.1/32');
    expect(hbaAddress('fd00::1')).toBe('fd00::1/128');
    expect(hbaAddress('10.213.7.0/24')).toBe('10.213.7.0/24');
    expect(hbaAddress('db1.example.com')).toBe('db1.example.com');
  });
});

describe('systemd unit', () => {
  it('runs Patroni as postgres with KillMode=process and HUP on reload', () => {
    const u = renderUnit({ scope: 'pg-cluster', configFile: '/etc/patroni/patroni.yml', watchdog: true, watchdogDevice: '/dev/watchdog' });
    expect(u).toContain('User=postgres\n');
    expect(u).toContain('ExecStart=/usr/bin/patroni /etc/patroni/patroni.yml\n');
    expect(u).toContain('ExecReload=/bin/kill -s HUP $MAINPID\n');
    expect(u).toContain('KillMode=process\n');
    expect(u).toMatch(/ExecStartPre=-\+.*chown postgres \/dev\/watchdog/);
    expect(renderUnit({ scope: 'x', configFile: '/c.yml', watchdog: false, watchdogDevice: '/dev/watchdog' })).not.toContain('ExecStartPre');
  });
});

describe('DCS settings through PATCH /config', () => {
  const wanted = dcsConfigOf(vars);
  const live = JSON.parse(JSON.stringify(wanted)) as Record<string, unknown>;

  it('sees no change when the DCS holds the same values, whatever their spelling', () => {
    const spelled = JSON.parse(JSON.stringify(live)) as { postgresql: { parameters: Record<string, unknown> } };
    spelled.postgresql.parameters['wal_log_hints'] = true;
    spelled.postgresql.parameters['max_connections'] = '200';
    spelled.postgresql.parameters['hand_set_by_a_dba'] = 'x';
    expect(dcsPatch(wanted, spelled).changes).toEqual([]);
  });

  it('patches only what differs, as the smallest body', () => {
    const v = PatroniVarsSchema.parse({ ...secrets, dcs: { ttl: 40, parameters: { max_connections: 300 } } });
    const { patch, changes } = dcsPatch(dcsConfigOf(v), live);
    expect(patch).toEqual({ ttl: 40, postgresql: { parameters: { max_connections: 300 } } });
    expect(describeChanges(changes)).toBe('ttl 30 -> 40, max_connections 200 -> 300');
    const diff = dcsDiff('/service/pg-cluster/config', changes);
    expect(diff).toContain('-postgresql.parameters.max_connections: 200\n+postgresql.parameters.max_connections: 300\n');
    expect(changedParameters(changes)).toEqual(['max_connections']);
  });

  it('removes a parameter the user set to null', () => {
    const v = PatroniVarsSchema.parse({ ...secrets, dcs: { parameters: { archive_command: null } } });
    const { patch } = dcsPatch(dcsConfigOf(v), live, v.dcs.parameters);
    expect(patch).toEqual({ postgresql: { parameters: { archive_command: null } } });
  });

  it('restarts the leader first only after lowering a hot-standby limit', () => {
    const m = (name: string, role: 'leader' | 'sync_standby' | 'replica') =>
      ({ name, role, state: 'running', host: '', port: 5432, apiUrl: '', timeline: 1, lagBytes: 0, pendingRestart: true, nosync: false }) as const;
    const members = [m('pg1', 'leader'), m('pg2', 'sync_standby'), m('pg3', 'replica')];
    expect(restartOrder(members).map((x) => x.name)).toEqual(['pg3', 'pg2', 'pg1']);
    expect(restartOrder(members, true).map((x) => x.name)).toEqual(['pg1', 'pg3', 'pg2']);
  });

  it('reads a lowered limit from the line a restart would apply, not from superseded lines', async () => {
    // Only the last line per name counts (DISTINCT ON ... ORDER BY seqno DESC), against the value in force.
    expect(LOWERED_LIMITS_SQL).toMatch(/distinct on \(name\)[\s\S]*order by name, seqno desc/);
    expect(LOWERED_LIMITS_SQL).toMatch(/f\.setting::bigint < s\.setting::bigint/);
    // The pending line carries error 'setting could not be applied': filtering on error hides it.
    expect(LOWERED_LIMITS_SQL).not.toMatch(/applied|error/);
    const sent: string[] = [];
    const leader = { exec: async (_s: string, o?: { stdin?: string | Buffer }) => (sent.push(String(o?.stdin)), { code: 0, stdout: 'max_connections\n', stderr: '' }) };
    expect(await standbyLimitsLowered(leader, 5432)).toEqual(['max_connections']);
    expect(sent[0]).toContain(LOWERED_LIMITS_SQL);
  });
});

describe('live state from the REST API', () => {
  const doc = {
    members: [
      { name: 'pg1', role: 'leader', state: 'running', api_url: 'http://10.213.7.11:8008/patroni', host: '10.213.7.11', port: 5432, timeline: 2 },
      { name: 'pg2', role: 'sync_standby', state: 'streaming', api_url: 'http://10.213.7.12:8008/patroni', host: '10.213.7.12', port: 5432, timeline: 2, lag: 0 },
      { name: 'pg3', role: 'replica', state: 'running', api_url: 'http://10.213.7.13:8008/patroni', host: '10.213.7.13', port: 5432, timeline: 2, lag: 'unknown', pending_restart: true },
    ],
  };

  it('types the members of GET /cluster', () => {
    const cs = parseCluster(doc);
    expect(cs.members.map((m) => [m.name, m.role, m.lagBytes, m.pendingRestart])).toEqual([
      ['pg1', 'leader', 0, false],
      ['pg2', 'sync_standby', 0, false],
      ['pg3', 'replica', null, true],
    ]);
    expect(leaderOf(cs).name).toBe('pg1');
    expect(apiBaseOf(cs.members[1]!)).toBe('http://10.213.7.12:8008');
    expect(describeCluster(cs)).toBe('pg1 leader running tl 2, pg2 sync_standby streaming tl 2 lag 0, pg3 replica running tl 2 lag unknown pending_restart');
  });

  it('refuses a role it does not know, and no or two leaders', () => {
    expect(() => parseCluster({ members: [{ name: 'x', role: 'standby_leader', state: 'running' }] })).toThrow(/neither leader, sync_standby nor replica/);
    expect(() => leaderOf(parseCluster({ members: [] }))).toThrow(/exactly one leader, found 0/);
    const two = parseCluster({ members: [doc.members[0], { ...doc.members[0], name: 'pg9' }] });
    expect(() => leaderOf(two)).toThrow(/found 2/);
  });

  it('reads a member\'s own role, master or primary', () => {
    expect(parseSelf({ state: 'running', role: 'master', timeline: 1 }, 'pg1').role).toBe('primary');
    expect(parseSelf({ state: 'running', role: 'replica' }, 'pg2').role).toBe('replica');
    expect(() => parseSelf({ state: 'running', role: 'uninitialized' }, 'pg3')).toThrow(/neither leader nor replica/);
  });

  it('gates on every member running, one leader, a sync standby, one timeline', () => {
    const ok = parseCluster({ members: doc.members.map((m) => ({ ...m, lag: 0 })) });
    expect(gateProblem(ok, ['pg1', 'pg2', 'pg3'], true)).toBeNull();
    expect(gateProblem(ok, ['pg1', 'pg2', 'pg3', 'pg4'], true)).toMatch(/not in the cluster yet: pg4/);
    const down = parseCluster({ members: [doc.members[0], { ...doc.members[1], state: 'starting' }] });
    expect(gateProblem(down, ['pg1', 'pg2'], true)).toMatch(/not running: pg2 \(starting\)/);
    const noSync = parseCluster({ members: [doc.members[0], { ...doc.members[2], role: 'replica' }] });
    expect(gateProblem(noSync, ['pg1', 'pg3'], true)).toMatch(/no synchronous standby/);
    expect(gateProblem(noSync, ['pg1', 'pg3'], false)).toBeNull();
    const split = parseCluster({ members: [doc.members[0], { ...doc.members[1], timeline: 1 }] });
    expect(gateProblem(split, ['pg1', 'pg2'], true)).toMatch(/different timelines/);
  });

  it('puts the password and body in curl\'s stdin config, escaped', () => {
    const cfg = curlConfig({ method: 'PATCH', path: '/config', body: { a: 'x"y' }, auth: { username: 'patroni', password: new Secret('p"w\\d') } });
    expect(cfg).toContain('url = "http://127.0.0.1:8008/config"\n');
    expect(cfg).toContain('request = "PATCH"\n');
    expect(cfg).toContain('user = "patroni:p\\"w\\\\d"\n');
    expect(cfg).toContain('data-binary = "{\\"a\\":\\"x\\\\\\"y\\"}"\n');
  });

  it('masks password lines of patroni.yml for the diff', () => {
    const masked = maskPasswords(text);
    expect(masked).not.toContain('super-Secret-2');
    expect(masked).toMatch(/^ +password: \*{8}$/m);
    expect(masked.split('\n').length).toBe(text.split('\n').length);
  });
});
