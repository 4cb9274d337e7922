import { describe, expect, it } from 'vitest';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { EtcdVarsSchema } from '../../roles/etcd/vars.ts';
import { Secret } from '../../src/core/secret.ts';
import {
  clientUrls,
  etcdEnvFor,
  HEADER,
  httpUrl,
  isOurs,
  parseEnvFile,
  renderEtcdEnv,
  runtimeSettingsDiffer,
} from '../../roles/etcd/render.ts';
import { etcdctl, parseMemberList, quorum } from '../../roles/etcd/live.ts';
import etcd from '../../roles/etcd/index.ts';
import { RunState } from '../../src/engine/run-state.ts';
import { createTaskContext } from '../../src/engine/context.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import { memoryInventory } from '../support/inventory.ts';

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
    groups: ['all', 'etcd'],
    vars,
    origins: {},
  };
}

function inventory(hosts: Host[]): Inventory {
  return {
    source: 'test',
    hosts: new Map(hosts.map((h) => [h.name, h])),
    groups: new Map([['etcd', { name: 'etcd', hosts: hosts.map((h) => h.name), children: [], vars: {} }]]),
  };
}

const pg = [host('pg1', '10.213.7.11'), host('pg2', '10.213.7.12'), host('pg3', '10.213.7.13')];
const inv = inventory(pg);
const defaults = EtcdVarsSchema.parse({});

describe('etcd vars', () => {
  it('has the seed defaults', () => {
    expect(defaults).toMatchObject({ group: 'etcd', clusterToken: 'pg-etcd', dataDir: '/var/lib/etcd/default', clientPort: 2379, peerPort: 2380 });
    expect(defaults.packages).toEqual(['etcd-server', 'etcd-client']);
  });

  it('rejects a managed key in settings and equal ports', () => {
    const r = EtcdVarsSchema.safeParse({ settings: { ETCD_NAME: 'x' }, peerPort: 2379 });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('settings.ETCD_NAME');
    expect(paths).toContain('peerPort');
  });

  it('accepts the token as a Secret (the inventory wraps any *token* key)', () => {
    expect(EtcdVarsSchema.parse({ clusterToken: new Secret('prod-pg-etcd') }).clusterToken).toBe('prod-pg-etcd');
  });

  it('rejects a multi-line setting and a bad token', () => {
    expect(EtcdVarsSchema.safeParse({ settings: { ETCD_LOG_LEVEL: 'info\nETCD_NAME=evil' } }).success).toBe(false);
    expect(EtcdVarsSchema.safeParse({ clusterToken: 'a b' }).success).toBe(false);
  });
});

describe('/etc/default/etcd', () => {
  const text = renderEtcdEnv(etcdEnvFor(defaults, pg[0]!, inv, 'new'));

  it('renders the member, its URLs and the whole initial cluster', () => {
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^# Managed by rigger/);
    expect(lines).toContain('ETCD_NAME=pg1');
    expect(lines).toContain('ETCD_DATA_DIR=/var/lib/etcd/default');
    expect(lines).toContain('ETCD_LISTEN_PEER_URLS=http://10.213.7.11:2380');
    expect(lines).toContain('ETCD_LISTEN_CLIENT_URLS=http://10.213.7.11:2379,http://127.0.0.1:2379');
    expect(lines).toContain('ETCD_ADVERTISE_CLIENT_URLS=http://10.213.7.11:2379');
    expect(lines).toContain('ETCD_INITIAL_ADVERTISE_PEER_URLS=http://10.213.7.11:2380');
    expect(lines).toContain(
      'ETCD_INITIAL_CLUSTER=pg1=http://10.213.7.11:2380,pg2=http://10.213.7.12:2380,pg3=http://10.213.7.13:2380',
    );
    expect(lines).toContain('ETCD_INITIAL_CLUSTER_STATE=new');
    expect(lines).toContain('ETCD_INITIAL_CLUSTER_TOKEN=pg-etcd');
    expect(text.endsWith('\n')).toBe(true);
    expect(isOurs(text)).toBe(true);
  });

  it('renders the same text for the same input (changed is decided on text)', () => {
    expect(renderEtcdEnv(etcdEnvFor(defaults, pg[0]!, inv, 'new'))).toBe(text);
  });

  it('says existing for a joining member', () => {
    expect(renderEtcdEnv(etcdEnvFor(defaults, pg[2]!, inv, 'existing'))).toContain('ETCD_INITIAL_CLUSTER_STATE=existing\n');
  });

  it('appends extra settings sorted, quoting what systemd needs quoted', () => {
    const v = EtcdVarsSchema.parse({ settings: { ETCD_LOG_LEVEL: 'warn', ETCD_ELECTION_TIMEOUT: '1000', ETCD_CIPHER_SUITES: 'a b' } });
    const t = renderEtcdEnv(etcdEnvFor(v, pg[0]!, inv, 'new'));
    const tail = t.trim().split('\n').slice(-3);
    expect(tail).toEqual(['ETCD_CIPHER_SUITES="a b"', 'ETCD_ELECTION_TIMEOUT=1000', 'ETCD_LOG_LEVEL=warn']);
    expect(parseEnvFile(t).get('ETCD_CIPHER_SUITES')).toBe('a b');
  });

  it('uses a per-host address override for itself and its peers', () => {
    const hosts = [host('a', 'mgmt-a', { etcd: { address: '192.168.5.1' } }), host('b', 'mgmt-b', { etcd: { address: '192.168.5.2' } })];
    const i2 = inventory(hosts);
    const env = etcdEnvFor(EtcdVarsSchema.parse({ address: '192.168.5.1' }), hosts[0]!, i2, 'new');
    expect(env.initialCluster).toEqual([
      { name: 'a', peerUrl: 'http://192.168.5.1:2380' },
      { name: 'b', peerUrl: 'http://192.168.5.2:2380' },
    ]);
    expect(clientUrls(i2, 'etcd')).toEqual(['http://192.168.5.1:2379', 'http://192.168.5.2:2379']);
  });

  it('brackets IPv6 literals in URLs', () => {
    expect(httpUrl('fd00::1', 2379)).toBe('http://[fd00::1]:2379');
  });

  it('refuses a host outside the group and a missing group', () => {
    expect(() => etcdEnvFor(defaults, host('lb1', '10.213.7.21'), inv, 'new')).toThrow(/not in the etcd group/);
    expect(() => etcdEnvFor(EtcdVarsSchema.parse({ group: 'dcs' }), pg[0]!, inv, 'new')).toThrow(/group "dcs"/);
  });
});

describe('restart decision', () => {
  const base = renderEtcdEnv(etcdEnvFor(defaults, pg[0]!, inv, 'new'));

  it('needs no restart when only bootstrap keys change (a member was added)', () => {
    const four = inventory([...pg, host('pg4', '10.213.7.14')]);
    const after = renderEtcdEnv(etcdEnvFor(defaults, pg[0]!, four, 'new'));
    expect(after).not.toBe(base);
    expect(runtimeSettingsDiffer(base, after)).toBe(false);
  });

  it('needs a restart when a runtime setting changes', () => {
    const after = renderEtcdEnv(etcdEnvFor(EtcdVarsSchema.parse({ settings: { ETCD_HEARTBEAT_INTERVAL: '200' } }), pg[0]!, inv, 'new'));
    expect(runtimeSettingsDiffer(base, after)).toBe(true);
  });

  it('treats the stock, all-comment file as not ours', () => {
    expect(isOurs('## etcd(1) daemon options\n#ETCD_NAME="hostname"\n')).toBe(false);
    expect(parseEnvFile('#ETCD_NAME="x"\n\n').size).toBe(0);
  });
});

describe('etcdctl output', () => {
  it('keeps 64-bit member ids exact (hex, as member remove wants them)', () => {
    const json =
      '{"header":{"cluster_id":1,"member_id":2},"members":[{"ID":18013011834918695365,"name":"pg1","peerURLs":["http://10.213.7.11:2380"],"clientURLs":["http://10.213.7.11:2379"]},' +
      '{"ID":3822830943417669155,"peerURLs":["http://10.213.7.14:2380"],"isLearner":false}]}';
    const members = parseMemberList(json);
    expect(members).toEqual([
      { id: 'f9fb12d3ab3c71c5', name: 'pg1', peerUrls: ['http://10.213.7.11:2380'], clientUrls: ['http://10.213.7.11:2379'], isLearner: false },
      { id: '350d6c7d22c81623', name: '', peerUrls: ['http://10.213.7.14:2380'], clientUrls: [], isLearner: false },
    ]);
  });

  it('quotes endpoints and bounds every call', () => {
    expect(etcdctl(['http://a:2379', 'http://b:2379'], 'endpoint health --cluster')).toBe(
      "ETCDCTL_API=3 etcdctl --dial-timeout=2s --command-timeout=5s --endpoints='http://a:2379,http://b:2379' endpoint health --cluster",
    );
  });
});

describe('inspection: a member list that cannot be read', () => {
  const inv = memoryInventory({ etcd: ['pg1', 'pg2', 'pg3'] });
  const vars = EtcdVarsSchema.parse({});
  async function inspectOn(names: string[], data: Record<string, boolean>) {
    const shared = new RunState();
    const results = await Promise.allSettled(
      names.map(async (name) => {
        const base = createTaskContext({
          host: inv.hosts.get(name)!,
          facts: placeholderFacts(),
          inventory: inv,
          shared,
          transport: {
            exec: async (s: string) =>
              s.includes('member list')
                ? { code: 1, stdout: 'context deadline exceeded', stderr: '' }
                : { code: 0, stdout: `data=${data[name] ? 'yes' : 'no'}\netcdctl=yes\n@@file\n${data[name] ? `${HEADER}\nETCD_INITIAL_CLUSTER_STATE=new\n` : ''}`, stderr: '' },
          },
        });
        const ctx = { ...base, vars };
        const task = (await etcd.tasks(ctx)).find((t) => t.name === 'etcd: inspect this member and the cluster');
        if (task?.kind !== 'run') throw new Error('no inspection step');
        return task.run(ctx);
      }),
    );
    return results;
  }
  it('all members in the run and none with data: a new cluster', async () => {
    const r = await inspectOn(['pg1', 'pg2', 'pg3'], {});
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });
  it('a member of the group not in the run: an error, never "new cluster"', async () => {
    const r = await inspectOn(['pg3'], {});
    expect(r[0]!.status).toBe('rejected');
    expect(String((r[0] as PromiseRejectedResult).reason)).toMatch(/cannot read the etcd member list \(context deadline exceeded\), and pg1, pg2 of group "etcd" are not in this run/);
  });
  it('another member of the run holds the data: an error on the one without', async () => {
    const r = await inspectOn(['pg1', 'pg2', 'pg3'], { pg1: true, pg2: true });
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(String((r[2] as PromiseRejectedResult).reason)).toMatch(/pg1, pg2 already hold its data/);
  });
});

describe('quorum with a member the run does not reach', () => {
  const members = JSON.stringify({
    members: [1, 2, 3].map((i) => ({ ID: 1000 + i, name: `pg${i}`, peerURLs: [`http://10.0.0.${i}:2380`], clientURLs: [`http://10.0.0.${i}:2379`] })),
  });
  const healthOut = (down: number[]) =>
    [1, 2, 3].map((i) => (down.includes(i) ? `http://10.0.0.${i}:2379 is unhealthy: failed to commit proposal: context deadline exceeded` : `http://10.0.0.${i}:2379 is healthy: successfully committed proposal: took = 2ms`)).join('\n') +
    (down.length ? '\nError: unhealthy cluster' : '');
  const remote = (down: number[]) => ({ exec: async () => ({ code: 0, stdout: `${healthOut(down)}\n@@health ${down.length ? 1 : 0}\n${members}\n@@members 0\n`, stderr: '' }) });
  const want = [1, 2, 3].map((i) => ({ name: `pg${i}`, peerUrl: `http://10.0.0.${i}:2380` }));

  it('all healthy: ok, nobody down', async () => {
    expect(await quorum(remote([]), ['x'], want)).toEqual({ ok: true, started: 3, down: [] });
  });
  it('one down that the run does not reach: a healthy quorum, naming it', async () => {
    expect(await quorum(remote([3]), ['x'], want, new Set(['pg3']))).toEqual({ ok: true, started: 3, down: ['pg3'] });
  });
  it('one down that the run reaches, or a majority down: not healthy', async () => {
    expect((await quorum(remote([3]), ['x'], want)).ok).toBe(false);
    expect((await quorum(remote([2, 3]), ['x'], want, new Set(['pg2', 'pg3']))).ok).toBe(false);
  });
});
