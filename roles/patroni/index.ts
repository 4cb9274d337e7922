/**
 * Role patroni: Patroni runs PostgreSQL on every host of the `postgres` group. A new cluster
 * starts leader first (the first host), the replicas after it; a gate waits for every member
 * to be running. On a live cluster, local config changes reload Patroni (handler) and
 * cluster-wide settings go through PATCH /config on the leader, learned live; members left
 * with pending_restart are restarted replicas first, leader last. See README.md.
 */
import { posix } from 'node:path';
import { defineRole, type RoleContext } from '../../src/engine/role.ts';
import { TaskError, type RunTask, type Task } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { directory, file, packages, service } from '../../src/ops/index.ts';
import { clientUrls } from '../etcd/render.ts';
import { journalTail, settleInside, waitUntil } from '../etcd/live.ts';
import { unifiedDiff } from '../../src/ops/unified-diff.ts';
import { MASK, redact } from '../../src/core/secret.ts';
import { PatroniVars } from './vars.ts';
import { binDirOf, dcsConfigOf, patroniConfigFor, renderPatroniYaml, renderUnit } from './render.ts';
import { changedParameters, dcsDiff, dcsPatch, describeChanges, type DcsChange } from './dcs.ts';
import {
  api,
  apiBaseOf,
  clusterState,
  dcsConfig,
  describeCluster,
  isRunning,
  leaderOf,
  patchDcsConfig,
  restartMember,
  selfState,
  type ApiAuth,
  type ClusterState,
  type Member,
} from './live.ts';

type Ctx = RoleContext<PatroniVars>;

const key = (ctx: Ctx, what: string) => `patroni:${ctx.vars.scope}:${what}`;
const unitOf = (v: PatroniVars) => `${v.serviceName}.service`;
const authOf = (v: PatroniVars): ApiAuth => ({ username: v.restapi.username, password: v.restapi.password });
const target = (v: PatroniVars) => ({ port: v.restapi.port });

/** Shared once-per-run value, computed by the first host that asks. */
function once<T>(ctx: Ctx, what: string, fn: () => Promise<T>): Promise<T> {
  const k = key(ctx, what);
  let p = ctx.shared.get(k) as Promise<T> | undefined;
  if (!p) {
    p = fn();
    ctx.shared.set(k, p);
  }
  return p;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(ctx: Ctx, what: string): Deferred {
  const k = key(ctx, what);
  let d = ctx.shared.get(k) as Deferred | undefined;
  if (!d) {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // awaited by the waiting hosts; never an unhandled rejection
    d = { promise, resolve, reject };
    ctx.shared.set(k, d);
  }
  return d;
}

/** Hosts of this play that reached the start step, in group (inventory) order. */
function presentMembers(ctx: Ctx): string[] {
  const present = (ctx.shared.get(key(ctx, 'present')) as Set<string> | undefined) ?? new Set<string>();
  return (ctx.inventory.groups.get(ctx.vars.groups.postgres)?.hosts ?? []).filter((h) => present.has(h));
}

/** Has Patroni ever initialized this cluster? The DCS knows: <namespace><scope>/initialize. */
async function dcsInitialized(ctx: Ctx): Promise<boolean> {
  const k = `${ctx.vars.namespace}${ctx.vars.scope}/initialize`;
  const errors: string[] = [];
  for (const url of clientUrls(ctx.inventory, ctx.vars.groups.etcd)) {
    const r = await api(ctx, { baseUrl: url, method: 'POST', path: '/v3/kv/range', body: { key: Buffer.from(k).toString('base64') }, timeoutS: 5 });
    if (!r.ok || r.status !== 200) {
      errors.push(r.ok ? `${url}: HTTP ${r.status}` : r.error);
      continue;
    }
    const doc = JSON.parse(r.body) as { kvs?: unknown[] };
    return Array.isArray(doc.kvs) && doc.kvs.length > 0;
  }
  throw new TaskError(`no etcd member answered (needed to know whether cluster ${ctx.vars.scope} exists): ${errors.join('; ')}`);
}

interface UnitState {
  load: string;
  active: string;
  enabled: string;
  needReload: boolean;
}

async function unitState(ctx: Ctx): Promise<UnitState> {
  const out = await ctx.run(`systemctl show -p LoadState,ActiveState,UnitFileState,NeedDaemonReload -- ${shQuote(unitOf(ctx.vars))}`);
  const kv = new Map(out.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  return { load: kv.get('LoadState') ?? '', active: kv.get('ActiveState') ?? '', enabled: kv.get('UnitFileState') ?? '', needReload: kv.get('NeedDaemonReload') === 'yes' };
}

const isActive = (s: UnitState) => s.active === 'active' || s.active === 'activating' || s.active === 'reloading';

async function startUnit(ctx: Ctx): Promise<void> {
  const unit = unitOf(ctx.vars);
  const r = await ctx.exec(`systemctl start -- ${shQuote(unit)}`);
  if (r.code !== 0) throw new TaskError(`systemctl start ${unit} failed: ${r.stderr.trim()}\n${await journalTail(ctx, unit)}`);
  ctx.shared.set(key(ctx, `started:${ctx.host.name}`), true);
}

/** This member runs PostgreSQL as the primary (it bootstrapped the cluster). */
async function waitSelfLeader(ctx: Ctx): Promise<void> {
  await waitUntil(
    `${ctx.host.name} to initialize cluster ${ctx.vars.scope} and lead it`,
    ctx.vars.startTimeoutSeconds * 1000,
    async () => {
      try {
        const s = await selfState(ctx, target(ctx.vars));
        if (s.role === 'primary' && s.state === 'running') return { done: true, value: undefined };
        return { done: false, seen: `${ctx.host.name} ${s.role} ${s.state}` };
      } catch (e) {
        return { done: false, seen: e instanceof Error ? e.message : String(e) };
      }
    },
    { intervalMs: 2000, more: () => journalTail(ctx, unitOf(ctx.vars)) },
  );
}

const checkBinaries: RunTask = {
  kind: 'run',
  name: 'patroni: PostgreSQL binaries present',
  inCheckMode: 'run',
  async run(c) {
    const ctx = c as Ctx;
    const bin = binDirOf(ctx.vars);
    const r = await ctx.exec(`test -x ${shQuote(`${bin}/postgres`)}`);
    if (r.code === 0) return { changed: false };
    if (ctx.check) return { changed: false, message: `${bin}/postgres not installed yet` };
    throw new TaskError(`${bin}/postgres not found: PostgreSQL ${ctx.vars.postgresVersion} is not installed (play the postgres role first; postgres.version and patroni.postgresVersion must match)`);
  },
};

const start: RunTask = {
  kind: 'run',
  name: 'patroni: enabled and running (a new cluster: the leader first)',
  inCheckMode: 'run',
  async run(c) {
    const ctx = c as Ctx;
    const unit = unitOf(ctx.vars);
    let present = ctx.shared.get(key(ctx, 'present')) as Set<string> | undefined;
    if (!present) ctx.shared.set(key(ctx, 'present'), (present = new Set()));
    present.add(ctx.host.name);
    const before = await unitState(ctx);
    await ctx.barrier(`patroni ${ctx.vars.scope}: configured`);

    const steps: string[] = [];
    const loaded = before.load === 'loaded';
    if (!loaded || before.needReload) steps.push('daemon-reload');
    if (before.enabled !== 'enabled') steps.push('enable');
    if (ctx.check) {
      if (!isActive(before)) steps.push('start');
      return steps.length ? { changed: true, summary: steps.join(', ') } : { changed: false };
    }
    if (steps.includes('daemon-reload')) await ctx.run('systemctl daemon-reload');
    if (steps.includes('enable')) await ctx.run(`systemctl enable -- ${shQuote(unit)}`);

    const initialized = await once(ctx, 'initialized', () => dcsInitialized(ctx));
    if (!initialized) {
      const first = presentMembers(ctx)[0];
      const leaderReady = deferred(ctx, 'leader-ready');
      if (first === ctx.host.name) {
        try {
          if (!isActive(before)) {
            await startUnit(ctx);
            steps.push('start (bootstraps the cluster)');
          }
          await waitSelfLeader(ctx);
          leaderReady.resolve();
        } catch (e) {
          leaderReady.reject(e);
          throw e;
        }
      } else {
        ctx.log(`waiting for ${first} to initialize cluster ${ctx.vars.scope}`);
        await leaderReady.promise.catch((e: unknown) => {
          throw new TaskError(`not started: ${first} did not initialize the cluster (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
        });
        if (!isActive(before)) {
          await startUnit(ctx);
          steps.push('start (replica)');
        }
      }
    } else if (!isActive(before)) {
      await startUnit(ctx);
      steps.push('start');
    }
    return steps.length ? { changed: true, summary: steps.join(', ') } : { changed: false };
  },
};

/** What is wrong with the cluster for the gate, or null when every present member is fine. */
export function gateProblem(cs: ClusterState, expected: string[], synchronous: boolean): string | null {
  const names = new Set(cs.members.map((m) => m.name));
  const missing = expected.filter((n) => !names.has(n));
  if (missing.length) return `not in the cluster yet: ${missing.join(', ')}`;
  const leaders = cs.members.filter((m) => m.role === 'leader');
  if (leaders.length !== 1) return `${leaders.length} leaders`;
  const down = cs.members.filter((m) => expected.includes(m.name) && !isRunning(m));
  if (down.length) return `not running: ${down.map((m) => `${m.name} (${m.state})`).join(', ')}`;
  const timelines = new Set(cs.members.filter(isRunning).map((m) => m.timeline));
  if (timelines.size > 1) return `members on different timelines: ${[...timelines].join(', ')}`;
  if (synchronous && cs.members.length > 1 && !cs.members.some((m) => m.role === 'sync_standby')) return 'no synchronous standby yet';
  return null;
}

const gate: RunTask = {
  kind: 'run',
  name: 'patroni: every member running',
  async run(c) {
    const ctx = c as Ctx;
    const expected = presentMembers(ctx);
    const cs = await waitUntil(
      `every member of ${ctx.vars.scope} (${expected.join(', ')}) running, one leader${ctx.vars.dcs.synchronousMode ? ', a synchronous standby' : ''}`,
      ctx.vars.startTimeoutSeconds * 1000,
      async () => {
        try {
          const s = await clusterState(ctx, target(ctx.vars));
          const problem = gateProblem(s, expected, ctx.vars.dcs.synchronousMode);
          return problem === null ? { done: true, value: s } : { done: false, seen: `${problem} [${describeCluster(s)}]` };
        } catch (e) {
          return { done: false, seen: e instanceof Error ? e.message : String(e) };
        }
      },
      { intervalMs: 2000, more: () => journalTail(ctx, unitOf(ctx.vars)) },
    );
    // Fresh enough for the next two steps on this host (saves their round trips on a no-op run).
    ctx.shared.set(key(ctx, `seen:${ctx.host.name}`), cs);
    return { changed: false, message: describeCluster(cs) };
  },
};

/** The state the gate just saw on this host, once (later steps must not reuse it twice). */
function takeSeen(ctx: Ctx): ClusterState | undefined {
  const k = key(ctx, `seen:${ctx.host.name}`);
  const cs = ctx.shared.get(k) as ClusterState | undefined;
  ctx.shared.delete(k);
  return cs;
}

/** The cluster as this member sees it, or null in check mode when Patroni is not running yet. */
async function liveCluster(ctx: Ctx): Promise<ClusterState | null> {
  try {
    return await clusterState(ctx, target(ctx.vars));
  } catch (e) {
    if (ctx.check) return null;
    throw e;
  }
}

const syncDcs: RunTask = {
  kind: 'run',
  name: 'patroni: cluster-wide settings (PATCH /config on the leader)',
  inCheckMode: 'run',
  async run(c) {
    const ctx = c as Ctx;
    const seen = takeSeen(ctx);
    const cs = seen ?? (await liveCluster(ctx));
    if (!cs) return { changed: false, message: 'Patroni not running yet: bootstrap.dcs applies' };
    if (seen) ctx.shared.set(key(ctx, `seen-for-restart:${ctx.host.name}`), seen);
    const leader = leaderOf(cs);
    if (leader.name !== ctx.host.name) return { changed: false, message: `the leader (${leader.name}) applies them` };
    const current = await dcsConfig(ctx, target(ctx.vars));
    const { patch, changes } = dcsPatch(dcsConfigOf(ctx.vars), current, ctx.vars.dcs.parameters);
    if (changes.length === 0) return { changed: false };
    if (!ctx.check) await patchDcsConfig(ctx, patch, authOf(ctx.vars), target(ctx.vars));
    ctx.shared.set(key(ctx, 'patched-parameters'), changedParameters(changes));
    ctx.shared.set(key(ctx, 'lowered-standby-limits'), loweredStandbyLimits(changes));
    return { changed: true, summary: `PATCH /config: ${describeChanges(changes)}`, diff: dcsDiff(`${ctx.vars.namespace}${ctx.vars.scope}/config`, changes) };
  },
};

/** Among `names`, the parameters PostgreSQL applies only at a restart (asked on the leader). */
async function restartOnlyParameters(ctx: Ctx, names: string[]): Promise<string[]> {
  const safe = names.filter((n) => /^[a-z_][a-z0-9_.]*$/.test(n));
  if (safe.length === 0) return [];
  const list = safe.map((n) => `'${n}'`).join(',');
  const out = await ctx.run(`cd / && runuser -u postgres -- psql -X -A -t -p ${ctx.vars.postgresql.port} -c ${shQuote(`select name from pg_settings where context = 'postmaster' and name in (${list})`)}`);
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/**
 * Replicas first, then the synchronous standby, the leader last. Except after lowering a
 * setting a hot standby must keep at least as high as its primary (max_connections, ...):
 * Patroni keeps the replicas at the leader's value until the leader restarted, so the
 * leader goes first.
 */
export function restartOrder(members: Member[], leaderFirst = false): Member[] {
  const rank = (m: Member) => (m.role === 'replica' ? 0 : m.role === 'sync_standby' ? 1 : leaderFirst ? -1 : 2);
  return [...members].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** Settings a hot standby needs at least as high as its primary's (PostgreSQL docs, Patroni). */
export const STANDBY_LIMITS = ['max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction'];

/** Which of those the changes lower. */
export function loweredStandbyLimits(changes: DcsChange[]): string[] {
  return changes
    .filter((c) => STANDBY_LIMITS.some((n) => c.key === `postgresql.parameters.${n}`))
    .filter((c) => c.to === undefined || Number(c.to) < Number(c.from))
    .map((c) => c.key.slice('postgresql.parameters.'.length));
}

const restartPending: RunTask = {
  kind: 'run',
  name: 'patroni: restart members with pending_restart (replicas first, leader last)',
  inCheckMode: 'run',
  when: (c) => (c as Ctx).vars.restartPending === 'rolling',
  async run(c) {
    const ctx = c as Ctx;
    const v = ctx.vars;
    const patched = (ctx.shared.get(key(ctx, 'patched-parameters')) as string[] | undefined) ?? [];
    // Nothing patched in this run: the gate's view is still current.
    const seenKey = key(ctx, `seen-for-restart:${ctx.host.name}`);
    const seen = patched.length === 0 ? (ctx.shared.get(seenKey) as ClusterState | undefined) : undefined;
    ctx.shared.delete(seenKey);
    let cs = seen ?? (await liveCluster(ctx));
    if (!cs) return { changed: false };
    if (leaderOf(cs).name !== ctx.host.name) return { changed: false, message: `the leader (${leaderOf(cs).name}) does it` };
    if (!ctx.check && patched.length > 0) {
      const needRestart = await restartOnlyParameters(ctx, patched);
      if (needRestart.length > 0) {
        // Every member applies the new DCS settings within a loop or two, then flags pending_restart.
        cs = await waitUntil(
          `every member to report pending_restart after changing ${needRestart.join(', ')}`,
          (v.dcs.loopWait * 3 + 30) * 1000,
          async () => {
            const s = await clusterState(ctx, target(v));
            const notYet = s.members.filter((m) => isRunning(m) && !m.pendingRestart);
            return notYet.length === 0 ? { done: true, value: s } : { done: false, seen: describeCluster(s) };
          },
          { intervalMs: 2000 },
        );
      }
    }
    const leaderFirst = ((ctx.shared.get(key(ctx, 'lowered-standby-limits')) as string[] | undefined) ?? []).length > 0;
    const pending = restartOrder(cs.members.filter((m) => m.pendingRestart), leaderFirst);
    if (pending.length === 0) return { changed: false };
    const names = pending.map((m) => m.name).join(', ');
    if (ctx.check) return { changed: true, summary: `would restart PostgreSQL on ${names}` };
    const everyone = cs.members.map((x) => x.name);
    const restartOne = async (m: Member) => {
      await restartMember(ctx, apiBaseOf(m), authOf(v), v.startTimeoutSeconds);
      // Whole again before the next one: one leader, the sync standby back, one timeline.
      await waitUntil(
        `the cluster whole again after restarting ${m.name}`,
        v.startTimeoutSeconds * 1000,
        async () => {
          const s = await clusterState(ctx, target(v));
          const problem = gateProblem(s, everyone, v.dcs.synchronousMode);
          return problem === null ? { done: true, value: undefined } : { done: false, seen: `${problem} [${describeCluster(s)}]` };
        },
        { intervalMs: 2000 },
      );
    };
    // Patroni updates the flags within a loop or two.
    const settled = (what: string) =>
      waitUntil(
        what,
        (v.dcs.loopWait * 2 + 10) * 1000,
        async () => {
          const s = await clusterState(ctx, target(v));
          return s.members.some((m) => m.pendingRestart) ? { done: false, seen: describeCluster(s) } : { done: true, value: s };
        },
        { intervalMs: 2000 },
      );
    for (const m of pending) await restartOne(m);
    try {
      await settled(`pending_restart cleared after restarting ${names}`);
    } catch {
      // A lowered limit keeps replicas pending until the leader ran with it: one more pass.
      const again = restartOrder((await clusterState(ctx, target(v))).members.filter((m) => m.pendingRestart));
      for (const m of again) await restartOne(m);
      await settled(`pending_restart cleared after restarting ${names}, then ${again.map((m) => m.name).join(', ')} again`);
    }
    return { changed: true, summary: `restarted PostgreSQL on ${names}` };
  },
};

/** password: lines masked, so a diff of patroni.yml can be shown. */
export function maskPasswords(yml: string): string {
  return yml.replace(/^(\s*password:).*$/gm, `$1 ${MASK}`);
}

/**
 * patroni.yml holds the passwords, so the file op hides its content; with --diff this step
 * shows the real change with every password line masked (a DCS setting is worth seeing).
 */
function configFile(path: string, yml: string): RunTask {
  return {
    kind: 'run',
    name: `patroni: ${path}`,
    inCheckMode: 'run',
    notify: ['reload patroni'],
    async run(c) {
      const before = c.diff ? await c.exec(`cat ${shQuote(path)} 2>/dev/null`) : null;
      const out = await settleInside(c, file({ path, content: yml, mode: '0600', owner: 'postgres', group: 'postgres', sensitive: true }));
      if (!out.changed || before === null) return out;
      return { ...out, diff: redact(unifiedDiff(path, maskPasswords(before.code === 0 ? before.stdout : ''), maskPasswords(yml))) };
    },
  };
}

function tasks(ctx: Ctx): Task[] {
  const v = ctx.vars;
  const yml = renderPatroniYaml(patroniConfigFor(v, ctx.host, ctx.inventory));
  const watchdog = v.watchdog.mode !== 'off';
  const unit = renderUnit({ scope: v.scope, configFile: v.configFile, watchdog, watchdogDevice: v.watchdog.device });
  return [
    packages({ names: v.packages }),
    checkBinaries,
    // Debian's unit would run a second Patroni from /etc/patroni/config.yml, and its package
    // upgrades restart it: ours is the only one.
    service({ name: 'patroni', masked: true, taskName: "patroni: Debian's patroni.service masked" }),
    // Debian layout: nothing creates /var/lib/postgresql/<version> without a stock cluster.
    ...(v.dataDir === undefined ? [directory({ path: `/var/lib/postgresql/${v.postgresVersion}`, owner: 'postgres', group: 'postgres', mode: '0755' })] : []),
    directory({ path: posix.dirname(v.configFile), mode: '0755' }),
    configFile(v.configFile, yml),
    file({ path: `/etc/systemd/system/${unitOf(v)}`, content: unit, mode: '0644', notify: ['patroni unit changed'] }),
    // Running members take a new patroni.yml (pg_hba for a member being enrolled) before any
    // member starts: a new replica's base backup must find the leader already allowing it.
    { kind: 'flush', name: 'patroni: apply config changes before starting members' },
    start,
    gate,
    syncDcs,
    restartPending,
  ];
}

const startedThisRun = (ctx: Ctx) => ctx.shared.get(key(ctx, `started:${ctx.host.name}`)) === true;

export const patroni = defineRole({
  name: 'patroni',
  description: 'Patroni (PostgreSQL HA): config, our unit, ordered bootstrap, member gate, DCS settings via the leader',
  vars: PatroniVars,
  tasks,
  handlers: {
    /** Patroni re-reads patroni.yml on SIGHUP (the unit's ExecReload); PostgreSQL keeps running. */
    'reload patroni': () => [
      {
        kind: 'run',
        name: 'patroni: reload (re-read patroni.yml)',
        async run(x) {
          const c = x as Ctx;
          if (startedThisRun(c)) return { changed: false, message: 'started in this run with the new file' };
          if (!isActive(await unitState(c))) return { changed: false, message: 'not running' };
          await c.run(`systemctl reload -- ${shQuote(unitOf(c.vars))}`);
          return { changed: true, summary: 'reloaded' };
        },
      },
    ],
    /**
     * A unit change reaches systemd now; the running Patroni keeps its process (restarting it
     * on the leader is a failover): the new unit applies at the next rolling restart.
     */
    'patroni unit changed': () => [
      {
        kind: 'run',
        name: 'patroni: systemd daemon-reload',
        async run(x) {
          const c = x as Ctx;
          const before = await unitState(c);
          if (before.load === 'loaded' && !before.needReload) return { changed: false, message: 'systemd already has the current unit' };
          await c.run('systemctl daemon-reload');
          if (!startedThisRun(c) && isActive(before))
            c.warn(`${unitOf(c.vars)} changed: it applies when Patroni next restarts (use a rolling restart, leader last)`);
          return { changed: true, summary: 'daemon-reload' };
        },
      },
    ],
  },
});

export default patroni;
