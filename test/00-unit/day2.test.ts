/**
 * The pure and shell-generating parts of the day-2 modules (playbooks/day2/): rollout order,
 * replica fitness, apt output parsing, the nosync edit of patroni.yml, the scripts a rollout
 * runs on a member or a balancer (syntax-checked with dash, Debian's /bin/sh, and run here for
 * real where they only look at local processes), and the switchover candidate. No host, no lab.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { Secret } from '../../src/core/secret.ts';
import { TaskError } from '../../src/engine/types.ts';
import { parseCluster, type Member } from '../../roles/patroni/live.ts';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { patroniConfigFor, renderPatroniYaml, withRelease } from '../../roles/patroni/render.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import type { Balancer } from '../../playbooks/day2/lib/context.ts';
import { clusterHealth, replicaProblem, rolloutOrder, STALE_REPLY_SECONDS } from '../../playbooks/day2/lib/members.ts';
import type { Delegate } from '../../src/engine/types.ts';
import { parseSimulation, parseSizes, stackPackages } from '../../playbooks/day2/lib/packages.ts';
import { withNosync } from '../../playbooks/day2/lib/rollout.ts';
import { describeWork, hasWork, staleProcessScript, type MemberWork } from '../../playbooks/day2/lib/work.ts';
import { followPromotionScript } from '../../playbooks/day2/lib/balancers.ts';
import { pickCandidate } from '../../playbooks/day2/lib/switchover.ts';
import { binaryReplacedScript, type ReplicaLink } from '../../playbooks/day2/lib/pg.ts';
import { parseEndpointStatus } from '../../playbooks/day2/etcd-plays.ts';
import { bumpedVersion } from '../support/newer-package.ts';
import { memoryInventory } from '../support/inventory.ts';

const DASH = '/bin/dash';

/** Patroni vars for the tests below; passwords that YAML 1.1 (PyYAML, which Patroni uses) would read as booleans when plain. */
const PATRONI_INPUT = {
  restapi: { password: new Secret('off') },
  authentication: {
    superuser: { password: new Secret('super-Secret-2') },
    replication: { password: new Secret('on') },
    rewind: { password: new Secret('yes') },
  },
};
// Debian 12 facts: the paths of its PostgreSQL 15.
const PATRONI_VARS = withRelease(PatroniVarsSchema.parse(PATRONI_INPUT), placeholderFacts());
/** Members read each other's patroni vars through the role's schema: every member carries them. */
const MEMBER_VARS = Object.fromEntries(['pg1', 'pg2', 'pg3'].map((n) => [n, { patroni: PATRONI_INPUT }]));

/** dash -n: parses the script without running it; '' when it is valid sh. */
function dashSyntax(script: string): string {
  const r = spawnSync(DASH, ['-n'], { input: script, encoding: 'utf8' });
  return r.status === 0 ? '' : `exit ${r.status}: ${r.stderr}`;
}

/** Runs a script with dash and returns its exit code and output. */
function dash(script: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(DASH, ['-c', script], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a script with dash without blocking the event loop (for scripts that talk to servers in this process). */
async function dashAsync(script: string, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(DASH, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A process whose executable was deleted after it started (what a package upgrade leaves). */
async function withDeletedExe<T>(fn: (pid: number) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'rigger-day2-'));
  const exe = join(dir, 'sleep-copy');
  copyFileSync('/bin/sleep', exe);
  chmodSync(exe, 0o755);
  let child: ChildProcess | undefined;
  try {
    child = spawn(exe, ['60'], { stdio: 'ignore' });
    await once(child, 'spawn');
    rmSync(exe);
    return await fn(child.pid!);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- members.ts --------------------------------------------------------------------------

/** A GET /cluster document as Patroni 3 answers it. */
function clusterDoc(members: Array<{ name: string; role: string; state?: string; lag?: number | string }>) {
  return {
    scope: 'main',
    members: members.map((m, i) => ({
      name: m.name,
      role: m.role,
      state: m.state ?? (m.role === 'leader' ? 'running' : 'streaming'),
      api_url: `http://192.0.2.${11 + i}:8008/patroni`,
      host: `192.0.2.${11 + i}`,
      port: 5432,
      timeline: 3,
      ...(m.role === 'leader' ? {} : { lag: m.lag ?? 0 }),
    })),
  };
}
const membersOf = (ms: Parameters<typeof clusterDoc>[0]): Member[] => parseCluster(clusterDoc(ms)).members;
const names = (ms: Member[]) => ms.map((m) => m.name);

describe('rolloutOrder', () => {
  const five = membersOf([
    { name: 'pg3', role: 'leader' },
    { name: 'pg5', role: 'replica' },
    { name: 'pg1', role: 'sync_standby' },
    { name: 'pg4', role: 'replica' },
    { name: 'pg2', role: 'replica' },
  ]);

  it('takes async replicas first (by name), then the synchronous standby, the leader last', () => {
    expect(names(rolloutOrder(five))).toEqual(['pg2', 'pg4', 'pg5', 'pg1', 'pg3']);
  });

  it('takes the leader first when asked, the rest in the same order', () => {
    expect(names(rolloutOrder(five, true))).toEqual(['pg3', 'pg2', 'pg4', 'pg5', 'pg1']);
  });

  it('orders two synchronous standbys (synchronous_node_count 2) by name, between replicas and leader', () => {
    const ms = membersOf([
      { name: 'db-c', role: 'sync_standby' },
      { name: 'db-a', role: 'leader' },
      { name: 'db-b', role: 'sync_standby' },
      { name: 'db-d', role: 'replica' },
    ]);
    expect(names(rolloutOrder(ms))).toEqual(['db-d', 'db-b', 'db-c', 'db-a']);
  });

  it('does not reorder the array it was given', () => {
    const before = names(five);
    rolloutOrder(five);
    expect(names(five)).toEqual(before);
  });
});

describe('replicaProblem', () => {
  const link = (over: Partial<ReplicaLink> = {}): ReplicaLink => ({ name: 'pg2', state: 'streaming', lagBytes: 0, replyAgeSeconds: 1, syncState: 'sync', ...over });
  const bound = 10 * 1024 * 1024;

  it('says when the replica is not connected to the leader at all', () => {
    expect(replicaProblem('pg3', [link()], bound)).toBe('pg3 is not connected to the leader');
    expect(replicaProblem('pg2', [], bound)).toMatch(/^pg2 is not connected/);
  });

  it('says when the walsender is not streaming (catchup, startup)', () => {
    expect(replicaProblem('pg2', [link({ state: 'catchup' })], bound)).toBe('pg2 is catchup, not streaming');
    expect(replicaProblem('pg2', [link({ state: 'startup' })], bound)).toMatch(/startup, not streaming/);
  });

  it('treats a reply older than STALE_REPLY_SECONDS as stale, exactly that old as fresh', () => {
    expect(STALE_REPLY_SECONDS).toBe(30);
    expect(replicaProblem('pg2', [link({ replyAgeSeconds: STALE_REPLY_SECONDS + 1 })], bound)).toBe(`pg2 last reported ${STALE_REPLY_SECONDS + 1} s ago`);
    // pg_stat_replication.reply_time null is coalesced to 1e9 s by replicationLinks.
    expect(replicaProblem('pg2', [link({ replyAgeSeconds: 1e9 })], bound)).toMatch(/last reported 1000000000 s ago/);
    expect(replicaProblem('pg2', [link({ replyAgeSeconds: STALE_REPLY_SECONDS })], bound)).toBeNull();
  });

  it('reports a lag over the bound with the numbers, and the bound itself as fine', () => {
    expect(replicaProblem('pg2', [link({ lagBytes: bound + 1 })], bound)).toBe(`pg2 lags ${bound + 1} bytes (bound ${bound})`);
    expect(replicaProblem('pg2', [link({ lagBytes: bound })], bound)).toBeNull();
    expect(replicaProblem('pg2', [link({ lagBytes: 1 })], 0)).toBe('pg2 lags 1 bytes (bound 0)');
  });

  it('treats an unknown lag (-1: replay_lsn null) as a problem, never as zero', () => {
    expect(replicaProblem('pg2', [link({ lagBytes: -1 })], bound)).toBe(`pg2 lags an unknown amount (bound ${bound})`);
  });

  it('is null for a fresh streaming replica within the bound, picking its own row among several', () => {
    const links = [link({ name: 'pg3', state: 'catchup' }), link({ name: 'pg2', lagBytes: 4096 })];
    expect(replicaProblem('pg2', links, bound)).toBeNull();
    expect(replicaProblem('pg3', links, bound)).not.toBeNull();
  });

  it('checks connection, then state, then staleness, then lag (the first problem wins)', () => {
    expect(replicaProblem('pg2', [link({ state: 'catchup', replyAgeSeconds: 999, lagBytes: -1 })], bound)).toMatch(/not streaming/);
    expect(replicaProblem('pg2', [link({ replyAgeSeconds: 999, lagBytes: -1 })], bound)).toMatch(/last reported/);
  });
});

// --- packages.ts -------------------------------------------------------------------------

/** `LANG=C apt-get -s -q install --only-upgrade ...` on Debian 12 (apt 2.6), as printed. */
const SIMULATION = `Reading package lists...
Building dependency tree...
Reading state information...
postgresql-common is already the newest version (248).
The following additional packages will be installed:
  libcap2-bin
The following packages will be upgraded:
  libcap2 libcap2-bin libpq5 postgresql-15 postgresql-client-15
5 upgraded, 0 newly installed, 0 to remove and 117 not upgraded.
Inst libpq5 [15.8-0+deb12u1] (15.9-0+deb12u1 Debian:12.8/stable, Debian-Security:12/stable-security [amd64])
Inst libcap2 [1:2.66-4+deb12u2+b2] (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable [amd64])
Conf libcap2 (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable [amd64])
Inst libcap2-bin [1:2.66-4+deb12u2+b2] (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable [amd64])
Inst postgresql-client-15 [15.8-0+deb12u1] (15.9-0+deb12u1 Debian:12.8/stable [amd64]) []
Inst postgresql-15 [15.8-0+deb12u1] (15.9-0+deb12u1 Debian:12.8/stable [amd64]) []
Conf libpq5 (15.9-0+deb12u1 Debian:12.8/stable, Debian-Security:12/stable-security [amd64])
Conf libcap2-bin (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable [amd64])
Conf postgresql-client-15 (15.9-0+deb12u1 Debian:12.8/stable [amd64])
Conf postgresql-15 (15.9-0+deb12u1 Debian:12.8/stable [amd64])
`;

describe('clusterHealth', () => {
  const vars = PATRONI_VARS;
  const member = (name: string, role: string) => ({ name, role, state: role === 'leader' ? 'running' : 'streaming', timeline: 6, lag: 0 });
  /** Members answering /cluster with the given views; the leader's pg_stat_replication shows pg2 streaming. */
  function reach(views: Record<string, unknown>, asked: string[]) {
    return {
      async delegate(name: string): Promise<Delegate> {
        return {
          host: { name } as Delegate['host'],
          facts: {} as Delegate['facts'],
          async exec(script: string) {
            if (script === 'true') return { code: 0, stdout: '', stderr: '' };
            if (script.startsWith('curl')) {
              asked.push(name);
              return { code: 0, stdout: `${JSON.stringify(views[name])}\n200`, stderr: '' };
            }
            return { code: 0, stdout: `${['pg2', 'streaming', '0', '1', 'sync'].join('\x1f')}\n`, stderr: '' };
          },
        };
      },
    };
  }
  const fresh = { members: [member('pg3', 'leader'), member('pg2', 'sync_standby')] };

  it('judges by the leader\'s own view when a healed member still lists its expired key', async () => {
    const asked: string[] = [];
    const stale = { members: [member('pg3', 'leader'), member('pg2', 'sync_standby'), member('pg1', 'replica')] };
    const h = await clusterHealth(reach({ pg1: stale, pg2: fresh, pg3: fresh }, asked), 'pg1', ['pg1', 'pg2', 'pg3'], vars, 1024);
    expect([...asked].sort()).toEqual(['pg1', 'pg2', 'pg3']);
    expect(h.leader.name).toBe('pg3');
    expect(h.problems).toEqual(['pg1 is not a member of cluster pg-cluster']);
  });

  it('finds the cluster unsettled when a healed former leader still names itself', async () => {
    const stale = { members: [member('pg1', 'leader'), member('pg2', 'sync_standby'), member('pg3', 'replica')] };
    const h = await clusterHealth(reach({ pg1: stale, pg2: fresh, pg3: fresh }, []), 'pg1', ['pg1', 'pg2', 'pg3'], vars, 1024);
    expect(h.problems).toContain('members disagree on the leader (pg1 says pg1, pg2 says pg3, pg3 says pg3)');
  });

  it('is healthy when every member agrees and every replica streams', async () => {
    const all = { members: [member('pg3', 'leader'), member('pg2', 'sync_standby')] };
    const h = await clusterHealth(reach({ pg2: all, pg3: all }, []), 'pg3', ['pg2', 'pg3'], vars, 1024);
    expect(h.problems).toEqual([]);
    expect(h.leader.name).toBe('pg3');
  });
});

describe('parseSimulation', () => {
  it('reads every Inst line (with and without an epoch) in apt order, ignoring Conf lines', () => {
    expect(parseSimulation(SIMULATION)).toEqual([
      { name: 'libpq5', from: '15.8-0+deb12u1', to: '15.9-0+deb12u1' },
      { name: 'libcap2', from: '1:2.66-4+deb12u2+b2', to: '1:2.66-4+deb12u3+b1' },
      { name: 'libcap2-bin', from: '1:2.66-4+deb12u2+b2', to: '1:2.66-4+deb12u3+b1' },
      { name: 'postgresql-client-15', from: '15.8-0+deb12u1', to: '15.9-0+deb12u1' },
      { name: 'postgresql-15', from: '15.8-0+deb12u1', to: '15.9-0+deb12u1' },
    ]);
  });

  it('reads the lab’s rebuilt package version (+riggerN) and a tilde version', () => {
    const out = [
      'Inst postgresql-15 [15.18-0+deb12u1] (15.18-0+deb12u1+rigger1 localhost [amd64])',
      'Inst bind9-libs [1:9.18.28-1~deb12u2] (1:9.18.33-1~deb12u2 Debian-Security:12/stable-security [amd64])',
    ].join('\n');
    expect(parseSimulation(out)).toEqual([
      { name: 'postgresql-15', from: '15.18-0+deb12u1', to: '15.18-0+deb12u1+rigger1' },
      { name: 'bind9-libs', from: '1:9.18.28-1~deb12u2', to: '1:9.18.33-1~deb12u2' },
    ]);
  });

  it('is empty when there is nothing to do', () => {
    const nothing = `Reading package lists...
Building dependency tree...
Reading state information...
postgresql-15 is already the newest version (15.9-0+deb12u1).
Calculating upgrade...
0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
`;
    expect(parseSimulation(nothing)).toEqual([]);
    expect(parseSimulation('')).toEqual([]);
  });

  it('does not take Conf or Remv lines, or Inst in the middle of a line, for upgrades', () => {
    const out = ['Conf libpq5 (15.9-0+deb12u1 Debian:12.8/stable [amd64])', 'Remv oldpkg [1.0-1]', 'W: Inst libpq5 [1] (2 x)'].join('\n');
    expect(parseSimulation(out)).toEqual([]);
  });
});

describe('parseSizes', () => {
  it('adds the archives to fetch and the additional installed size (apt units are powers of 1000)', () => {
    const out = 'Need to get 17.2 MB of archives.\nAfter this operation, 1,024 kB of additional disk space will be used.\nDo you want to continue? [Y/n] N\nAbort.\n';
    expect(parseSizes(out)).toBe(17_200_000 + 1_024_000);
  });

  it('counts only what must be fetched when some archives are cached ("0 B/17.2 MB")', () => {
    expect(parseSizes('Need to get 0 B/17.2 MB of archives.\nAfter this operation, 512 kB of additional disk space will be used.\n')).toBe(512_000);
    expect(parseSizes('Need to get 3,100 kB/17.2 MB of archives.\n')).toBe(3_100_000);
  });

  it('never adds space that an upgrade frees', () => {
    const out = 'Need to get 0 B/1851 kB of archives.\nAfter this operation, 4096 B disk space will be freed.\n';
    expect(parseSizes(out)).toBe(0);
    expect(parseSizes('Need to get 2.5 MB of archives.\nAfter this operation, 1,234 kB disk space will be freed.\n')).toBe(2_500_000);
  });

  it('reads bytes and gigabytes, and is 0 when apt printed no sizes', () => {
    expect(parseSizes('Need to get 812 B of archives.\nAfter this operation, 1.5 GB of additional disk space will be used.\n')).toBe(812 + 1_500_000_000);
    expect(parseSizes('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n')).toBe(0);
  });
});

describe('stackPackages', () => {
  it('names the server and client of the running major, libpq, Patroni and its DCS client', () => {
    expect(stackPackages(15)).toEqual(['postgresql-15', 'postgresql-client-15', 'libpq5', 'postgresql-common', 'patroni', 'python3-etcd', 'python3-psycopg2']);
    expect(stackPackages(16)).toContain('postgresql-16');
    expect(stackPackages(16)).not.toContain('postgresql-15');
  });
});

// --- rollout.ts --------------------------------------------------------------------------

describe('withNosync', () => {
  const inv = memoryInventory({ postgres: ['pg1', 'pg2', 'pg3'], etcd: ['pg1', 'pg2', 'pg3'], balancers: ['lb1', 'lb2'] }, MEMBER_VARS);
  const vars = PATRONI_VARS;
  const rendered = renderPatroniYaml(patroniConfigFor(vars, inv.hosts.get('pg2')!, inv));
  const read = (text: string) => parse(text, { version: '1.1' }) as Record<string, any>;

  it('starts from a rendered patroni.yml whose tags.nosync is false', () => {
    expect(read(rendered).tags.nosync).toBe(false);
  });

  it('sets tags.nosync true and leaves every other key as it was', () => {
    const out = withNosync(rendered, true);
    const before = read(rendered);
    const after = read(out);
    expect(after.tags.nosync).toBe(true);
    expect({ ...after, tags: { ...after.tags, nosync: false } }).toEqual(before);
  });

  it('keeps on/off/yes strings strings for a YAML 1.1 reader', () => {
    const after = read(withNosync(rendered, true));
    expect(after.postgresql.authentication.replication.password).toBe('on');
    expect(after.restapi.authentication.password).toBe('off');
    expect(after.postgresql.authentication.rewind.password).toBe('yes');
    expect(after.bootstrap.dcs.postgresql.parameters.hot_standby).toBe('on');
  });

  it('changes only the nosync line of the text and round-trips back to the same text', () => {
    const on = withNosync(rendered, true);
    const diff = (a: string, b: string) => {
      const al = a.split('\n');
      const bl = b.split('\n');
      return al.map((l, i) => (l === bl[i] ? null : `${l} | ${bl[i]}`)).filter((x) => x !== null);
    };
    expect(on.split('\n').length).toBe(rendered.split('\n').length);
    expect(diff(rendered, on)).toEqual(['  nosync: false |   nosync: true']);
    expect(withNosync(on, false)).toBe(rendered);
  });

  it('sets false on a hand-written file, keeping its comments, quoting and plain on values', () => {
    const hand = `# local notes
scope: main
postgresql:
  parameters:
    hot_standby: 'off'
    fsync: on
tags:
  nofailover: false
  nosync: true
`;
    const out = withNosync(hand, false);
    expect(out).toContain('# local notes');
    expect(out).toContain("hot_standby: 'off'");
    expect(out).toContain('fsync: on');
    expect(out).toContain('  nosync: false');
    const doc = read(out);
    expect(doc.postgresql.parameters).toEqual({ hot_standby: 'off', fsync: true });
    expect(doc.tags).toEqual({ nofailover: false, nosync: false });
  });

  it('adds nosync to a tags map that lacks it', () => {
    const out = withNosync('scope: main\ntags:\n  nofailover: false\n', true);
    expect(read(out).tags).toEqual({ nofailover: false, nosync: true });
    expect(parseDocument(out, { version: '1.1' }).errors).toEqual([]);
  });
});

describe('describeWork / hasWork', () => {
  const none: MemberWork = { upgrades: [], aptArgs: null, restartReasons: [] };
  const up: MemberWork = {
    upgrades: [
      { name: 'postgresql-15', from: '15.8-0+deb12u1', to: '15.9-0+deb12u1' },
      { name: 'libpq5', from: '15.8-0+deb12u1', to: '15.9-0+deb12u1' },
    ],
    aptArgs: "install --only-upgrade 'postgresql-15' 'libpq5'",
    restartReasons: [],
  };
  const restart: MemberWork = { upgrades: [], aptArgs: null, restartReasons: ['Patroni reports pending_restart', 'PostgreSQL runs binaries replaced on disk'] };

  it('has no work without upgrades or restart reasons', () => {
    expect(hasWork(none)).toBe(false);
    expect(describeWork(none)).toBe('nothing to do');
  });

  it('has work for an upgrade alone, listing each package with both versions', () => {
    expect(hasWork(up)).toBe(true);
    expect(describeWork(up)).toBe('upgrade postgresql-15 15.8-0+deb12u1 -> 15.9-0+deb12u1, libpq5 15.8-0+deb12u1 -> 15.9-0+deb12u1');
  });

  it('has work for a restart alone, with its reasons', () => {
    expect(hasWork(restart)).toBe(true);
    expect(describeWork(restart)).toBe('restart (Patroni reports pending_restart; PostgreSQL runs binaries replaced on disk)');
  });

  it('says upgrade, then restart, when both', () => {
    expect(describeWork({ ...up, restartReasons: ['Patroni reports pending_restart'] })).toBe(
      'upgrade postgresql-15 15.8-0+deb12u1 -> 15.9-0+deb12u1, libpq5 15.8-0+deb12u1 -> 15.9-0+deb12u1, then restart (Patroni reports pending_restart)',
    );
  });
});

describe('staleProcessScript', () => {
  it('has dash as /bin/dash (Debian’s /bin/sh) to check the scripts with', () => {
    expect(existsSync(DASH)).toBe(true);
  });

  it('is valid sh, with and without the package-list comparison, for the pid expressions the rollout uses', () => {
    const pids = ['$$', "$(systemctl show -p MainPID --value 'patroni.service')", "$(head -n 1 '/var/lib/postgresql/15/main/postmaster.pid' 2>/dev/null)"];
    for (const p of pids) {
      expect(dashSyntax(staleProcessScript(p))).toBe('');
      expect(dashSyntax(staleProcessScript(p, { dpkgList: "/var/lib/dpkg/info/patroni's.list" }))).toBe('');
    }
    // The check itself can fail: an unterminated quote is not valid sh.
    expect(dashSyntax(`${staleProcessScript('$$')}\necho 'x`)).not.toBe('');
  });

  it('quotes the package list path', () => {
    expect(staleProcessScript('$$', { dpkgList: '/tmp/a b.list' })).toContain("stat -c %Y '/tmp/a b.list'");
  });

  it('prints current for a running shell whose binary and libraries are on disk', () => {
    expect(dash(staleProcessScript('$$'))).toMatchObject({ code: 0, stdout: 'current\n' });
    expect(dash(staleProcessScript(String(process.pid)))).toMatchObject({ code: 0, stdout: 'current\n' });
  });

  it('prints none for an empty pid, pid 0 (systemd: not running) and a pid that does not exist', () => {
    expect(dash(staleProcessScript("''")).stdout).toBe('none\n');
    expect(dash(staleProcessScript('$(true)')).stdout).toBe('none\n');
    expect(dash(staleProcessScript('0')).stdout).toBe('none\n');
    expect(dash(staleProcessScript('2147483646')).stdout).toBe('none\n');
  });

  it('prints stale for a process whose executable was deleted (replaced by an upgrade)', async () => {
    const out = await withDeletedExe((pid) => dash(staleProcessScript(String(pid))));
    expect(out).toMatchObject({ code: 0, stdout: 'stale\n' });
  });

  it('with a package list: stale when the list is newer than the process, current when older or missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigger-day2-'));
    try {
      const list = join(dir, 'patroni.list');
      writeFileSync(list, '/usr/lib/python3/dist-packages/patroni/__init__.py\n');
      const future = Date.now() / 1000 + 3600;
      utimesSync(list, future, future);
      expect(dash(staleProcessScript('$$', { dpkgList: list })).stdout).toBe('stale\n');
      const past = Date.now() / 1000 - 10 * 24 * 3600;
      utimesSync(list, past, past);
      expect(dash(staleProcessScript('$$', { dpkgList: list })).stdout).toBe('current\n');
      expect(dash(staleProcessScript('$$', { dpkgList: join(dir, 'missing.list') })).stdout).toBe('current\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// --- balancers.ts ------------------------------------------------------------------------

describe('followPromotionScript', () => {
  const lb: Balancer = { name: 'lb1', adminSocket: '/run/haproxy/admin.sock', primaryBackend: 'postgres_primary', replicaBackend: 'postgres_replicas' };
  const script = followPromotionScript(lb, 'http://192.0.2.12:8008', 'pg2', 'pg1', 30);

  it('is valid sh', () => {
    expect(dashSyntax(script)).toBe('');
  });

  it('moves the write route in one runtime command line: the candidate up, the old leader down', () => {
    expect(script).toContain("'set server postgres_primary/pg2 health up; set server postgres_primary/pg1 health down; set server postgres_replicas/pg2 health down'");
    expect(script).toContain("'/run/haproxy/admin.sock'");
  });

  it('polls the candidate’s /primary with a quoted URL and a deadline', () => {
    expect(script).toContain("'http://192.0.2.12:8008/primary'");
    expect(script).toContain('end=$(( $(date +%s) + 30 ))');
    expect(script).toMatch(/--max-time 1 'http:\/\/192\.0\.2\.12:8008\/primary'\)/);
  });

  describe('run against a local Patroni-like endpoint and a local admin socket', () => {
    let dir: string;
    let http: HttpServer;
    let sock: NetServer;
    let primaryStatus = 503;
    const received: string[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rigger-day2-'));
      http = createHttpServer((req, res) => {
        res.statusCode = req.url === '/primary' ? primaryStatus : 404;
        res.end();
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      sock = createNetServer((c) => {
        let buf = '';
        c.on('data', (d) => {
          buf += d.toString();
          if (buf.endsWith('\n')) {
            received.push(buf);
            c.end(); // haproxy answers nothing to a successful "set server"
          }
        });
      });
      sock.listen(join(dir, 'admin.sock'));
      await once(sock, 'listening');
    });

    afterAll(async () => {
      http?.close();
      sock?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const local = () => ({ ...lb, adminSocket: join(dir, 'admin.sock') });
    const api = () => `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    it('exits 3 without touching haproxy when the candidate never answers 200', async () => {
      primaryStatus = 503;
      received.length = 0;
      const r = await dashAsync(followPromotionScript(local(), api(), 'pg2', 'pg1', 1));
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('candidate never answered 200 on /primary');
      expect(received).toEqual([]);
    });

    it('sends the flip to the admin socket once the candidate answers 200', async () => {
      primaryStatus = 200;
      received.length = 0;
      const r = await dashAsync(followPromotionScript(local(), api(), 'pg2', 'pg1', 10));
      expect(r).toMatchObject({ code: 0, stdout: '' });
      expect(received).toEqual(['set server postgres_primary/pg2 health up; set server postgres_primary/pg1 health down; set server postgres_replicas/pg2 health down\n']);
    });
  });
});

// --- switchover.ts -----------------------------------------------------------------------

describe('pickCandidate', () => {
  const sync = membersOf([
    { name: 'pg1', role: 'leader' },
    { name: 'pg2', role: 'replica' },
    { name: 'pg3', role: 'sync_standby' },
  ]);
  const leader = sync[0]!;

  it('accepts a named candidate that is the synchronous standby', () => {
    expect(pickCandidate(sync, leader, 'pg3', true).name).toBe('pg3');
  });

  it('refuses a named plain replica in synchronous mode, saying why', () => {
    expect(() => pickCandidate(sync, leader, 'pg2', true)).toThrow(TaskError);
    expect(() => pickCandidate(sync, leader, 'pg2', true)).toThrow(/pg2 is replica; in synchronous mode only the synchronous standby/);
  });

  it('refuses an unknown name, and the leader itself, listing the members', () => {
    expect(() => pickCandidate(sync, leader, 'pg9', true)).toThrow(/candidate pg9 is not a replica of this cluster \(members: pg1, pg2, pg3\)/);
    expect(() => pickCandidate(sync, leader, 'pg1', false)).toThrow(/candidate pg1 is not a replica/);
  });

  it('takes the synchronous standby when no candidate is named (sync mode on or off)', () => {
    expect(pickCandidate(sync, leader, undefined, true).name).toBe('pg3');
    expect(pickCandidate(sync, leader, undefined, false).name).toBe('pg3');
  });

  it('refuses in synchronous mode when there is no synchronous standby', () => {
    const none = membersOf([
      { name: 'pg1', role: 'leader' },
      { name: 'pg2', role: 'replica' },
      { name: 'pg3', role: 'replica' },
    ]);
    expect(() => pickCandidate(none, none[0]!, undefined, true)).toThrow(/no healthy synchronous standby to switch over to: pg1 leader running/);
  });

  it('takes a replica when synchronous mode is off, and a named one as it is', () => {
    const async = membersOf([
      { name: 'pg1', role: 'replica' },
      { name: 'pg2', role: 'leader' },
      { name: 'pg3', role: 'replica' },
    ]);
    const l = async[1]!;
    const picked = pickCandidate(async, l, undefined, false);
    expect(picked.role).toBe('replica');
    expect(picked.name).not.toBe('pg2');
    expect(pickCandidate(async, l, 'pg3', false).name).toBe('pg3');
  });

  it('refuses when the leader is alone', () => {
    const alone = membersOf([{ name: 'pg1', role: 'leader' }]);
    expect(() => pickCandidate(alone, alone[0]!, undefined, false)).toThrow(/no healthy synchronous standby/);
  });
});

// --- pg.ts -------------------------------------------------------------------------------

describe('binaryReplacedScript', () => {
  it('is valid sh and quotes the data directory', () => {
    const s = binaryReplacedScript('/var/lib/postgresql/15/main');
    expect(dashSyntax(s)).toBe('');
    expect(s).toContain("'/var/lib/postgresql/15/main/postmaster.pid'");
    expect(dashSyntax(binaryReplacedScript("/srv/pg data/it's"))).toBe('');
  });

  it('run here: replaced for a deleted executable, current for a live one or no postmaster.pid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigger-day2-'));
    try {
      expect(dash(binaryReplacedScript(dir)).stdout).toBe('current\n');
      // postmaster.pid: the pid on the first line, then the data directory, start time, port...
      writeFileSync(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1700000000\n5432\n`);
      expect(dash(binaryReplacedScript(dir)).stdout).toBe('current\n');
      const out = await withDeletedExe((pid) => {
        writeFileSync(join(dir, 'postmaster.pid'), `${pid}\n${dir}\n1700000000\n5432\n`);
        return dash(binaryReplacedScript(dir)).stdout;
      });
      expect(out).toBe('replaced\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// --- test/support/newer-package.ts -------------------------------------------------------

describe('bumpedVersion', () => {
  it('appends +rigger1 to a Debian version', () => {
    expect(bumpedVersion('15.18-0+deb12u1')).toBe('15.18-0+deb12u1+rigger1');
    expect(bumpedVersion('1:2.66-4+deb12u2')).toBe('1:2.66-4+deb12u2+rigger1');
  });

  it('increments an existing +riggerN', () => {
    expect(bumpedVersion('15.18-0+deb12u1+rigger1')).toBe('15.18-0+deb12u1+rigger2');
    expect(bumpedVersion('15.18-0+deb12u1+rigger9')).toBe('15.18-0+deb12u1+rigger10');
  });

  it('gives a version dpkg orders after the one it bumps', () => {
    for (const v of ['15.18-0+deb12u1', '15.18-0+deb12u1+rigger1', '15.18-0+deb12u1+rigger9']) {
      const r = spawnSync('dpkg', ['--compare-versions', bumpedVersion(v), 'gt', v]);
      expect(r.status, `${bumpedVersion(v)} > ${v}`).toBe(0);
    }
  });
});

describe('etcd-plays parseEndpointStatus', () => {
  it('reads member and leader ids as hex from the raw digits (ids above 2^53 stay exact)', () => {
    const json = '[{"Endpoint":"http://127.0.0.1:2379","Status":{"header":{"cluster_id":1,"member_id":17237436991929493444,"revision":9,"raft_term":3},"version":"3.4.23","leader":17237436991929493444,"raftIndex":30}}]';
    expect(parseEndpointStatus(json)).toEqual({ id: 'ef37ad9dc622a7c4', leader: 'ef37ad9dc622a7c4' });
    const follower = json.replace('"leader":17237436991929493444', '"leader":9372538179322589801');
    const s = parseEndpointStatus(follower)!;
    expect(s.id).not.toBe(s.leader);
    expect(s.leader).toBe(BigInt('9372538179322589801').toString(16));
  });

  it('is null for an answer without the ids', () => {
    expect(parseEndpointStatus('{"error":"context deadline exceeded"}')).toBeNull();
  });
});
