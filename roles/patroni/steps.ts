/**
 * The patroni role's custom steps: ordered start of a new cluster (leader first), the member
 * gate, cluster-wide settings through the leader (PATCH /config), pending restarts in order,
 * and the handlers' steps. The task list that uses them is index.ts.
 */
import type { RoleContext } from '../../src/engine/role.ts';
import type { Delegate, RunTask } from '../../src/engine/types.ts';
import { shQuote } from '../../src/transport/types.ts';
import { file } from '../../src/ops/index.ts';
import { unifiedDiff } from '../../src/ops/unified-diff.ts';
import { redact } from '../../src/core/secret.ts';
import { isActive, parseUnitState, unitStateProbe, type UnitState } from '../../src/facts/unit-state.ts';
import { TaskError, hostNamesOf, hostsOf, journalTail, settleInside, stepsFor, waitUntil } from '../../src/toolkit/index.ts';
import { poolsOf, sessionsIn, setPoolState, type Pools } from '../haproxy/exports.ts';
import { clientUrls } from '../etcd/exports.ts';
import type { PatroniVars } from './vars.ts';
import { binDirOf, dcsConfigOf } from './render.ts';
import { changedParameters, dcsDiff, dcsPatch, describeChanges } from './dcs.ts';
import { gateProblem, maskPasswords, PATRONI_VERSION_PROBE, restartOrder, splitBrainRisk } from './rules.ts';
import { restartOnlyParameters, standbyLimitsLowered } from './sql.ts';
import { initializedKey, leaderReadyKey, patchedKey, presentKey, seenForRestartKey, seenKey, startedKey } from './state.ts';
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
const step = stepsFor<PatroniVars>();

export const unitOf = (v: PatroniVars) => `${v.serviceName}.service`;
const authOf = (v: PatroniVars): ApiAuth => ({ username: v.restapi.username, password: v.restapi.password });
const target = (v: PatroniVars) => ({ port: v.restapi.port });

/** Hosts of this play that reached the start step, in group (inventory) order. */
function presentMembers(ctx: Ctx): string[] {
  const present = ctx.shared.get(presentKey(ctx.vars.scope)) ?? new Set<string>();
  return hostNamesOf(ctx.inventory, ctx.vars.groups.postgres).filter((h) => present.has(h));
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

async function unitState(ctx: Ctx): Promise<UnitState> {
  const unit = unitOf(ctx.vars);
  const r = await ctx.exec(unitStateProbe(unit));
  return parseUnitState({ code: r.code, stdout: r.stdout }, unit);
}

async function startUnit(ctx: Ctx): Promise<void> {
  const unit = unitOf(ctx.vars);
  const r = await ctx.exec(`systemctl start -- ${shQuote(unit)}`);
  if (r.code !== 0) throw new TaskError(`systemctl start ${unit} failed: ${r.stderr.trim()}\n${await journalTail(ctx, unit)}`);
  ctx.shared.set(startedKey(ctx.vars.scope, ctx.host.name), true);
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

export const checkBinaries = step({
  name: 'patroni: PostgreSQL binaries present',
  inCheckMode: 'run',
  async run(ctx) {
    const bin = binDirOf(ctx.vars);
    const r = await ctx.exec(`test -x ${shQuote(`${bin}/postgres`)}`);
    if (r.code === 0) return { changed: false };
    if (ctx.check) return { changed: false, message: `${bin}/postgres not installed yet` };
    throw new TaskError(`${bin}/postgres not found: PostgreSQL ${ctx.vars.postgresVersion ?? '?'} is not installed (play the postgres role first; postgres.version and patroni.postgresVersion must match)`);
  },
});

/** Every run on a member: the installed Patroni named in a warning when it has the split-brain bug. */
export const splitBrainGuard = step({
  name: 'patroni: installed version has no known split-brain bug',
  inCheckMode: 'run',
  async run(ctx) {
    const installed = (await ctx.exec(PATRONI_VERSION_PROBE)).stdout.trim();
    if (!installed) return { changed: false, message: 'patroni not installed yet' };
    const risk = splitBrainRisk(installed);
    if (risk) ctx.warn(risk);
    return { changed: false, message: `patroni ${installed}` };
  },
});

export const start = step({
  name: 'patroni: enabled and running (a new cluster: the leader first)',
  inCheckMode: 'run',
  async run(ctx) {
    const unit = unitOf(ctx.vars);
    ctx.shared.ensure(presentKey(ctx.vars.scope), () => new Set<string>()).add(ctx.host.name);
    const before = await unitState(ctx);
    await ctx.barrier(`patroni ${ctx.vars.scope}: configured`);

    const steps: string[] = [];
    const loaded = before.load === 'loaded';
    if (!loaded || before.needReload) steps.push('daemon-reload');
    if (before.unitFile !== 'enabled') steps.push('enable');
    if (ctx.check) {
      if (!isActive(before)) steps.push('start');
      return steps.length ? { changed: true, summary: steps.join(', ') } : { changed: false };
    }
    if (steps.includes('daemon-reload')) await ctx.run('systemctl daemon-reload');
    if (steps.includes('enable')) await ctx.run(`systemctl enable -- ${shQuote(unit)}`);

    const initialized = await ctx.shared.once(initializedKey(ctx.vars.scope), () => dcsInitialized(ctx));
    if (!initialized) {
      const first = presentMembers(ctx)[0];
      const leaderReady = ctx.shared.deferred(leaderReadyKey(ctx.vars.scope));
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
});

export const gate = step({
  name: 'patroni: every member running',
  async run(ctx) {
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
    ctx.shared.set(seenKey(ctx.vars.scope, ctx.host.name), cs);
    return { changed: false, message: describeCluster(cs) };
  },
});

/** The state the gate just saw on this host, once (later steps must not reuse it twice). */
function takeSeen(ctx: Ctx): ClusterState | undefined {
  return ctx.shared.take(seenKey(ctx.vars.scope, ctx.host.name));
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

export const syncDcs = step({
  name: 'patroni: cluster-wide settings (PATCH /config on the leader)',
  inCheckMode: 'run',
  async run(ctx) {
    const v = ctx.vars;
    const seen = takeSeen(ctx);
    const cs = seen ?? (await liveCluster(ctx));
    if (!cs) return { changed: false, message: 'Patroni not running yet: bootstrap.dcs applies' };
    if (seen) ctx.shared.set(seenForRestartKey(v.scope, ctx.host.name), seen);
    const leader = leaderOf(cs);
    if (leader.name !== ctx.host.name) return { changed: false, message: `the leader (${leader.name}) applies them` };
    const current = await dcsConfig(ctx, target(ctx.vars));
    const { patch, changes } = dcsPatch(dcsConfigOf(ctx.vars), current, ctx.vars.dcs.parameters);
    if (changes.length === 0) return { changed: false };
    // Retried for a few loops: a leader whose etcd member just came back (a healed partition)
    // answers 503 until its DCS writes go through again; the same patch is safe to send twice.
    // A 4xx (wrong credentials, a rejected value) is an answer, not a transient: never retried.
    if (!ctx.check)
      for (const end = Date.now() + v.dcs.loopWait * 3000; ; ) {
        try {
          await patchDcsConfig(ctx, patch, authOf(ctx.vars), target(ctx.vars));
          break;
        } catch (e) {
          if (Date.now() >= end || (e instanceof Error && /HTTP 4\d\d/.test(e.message))) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    ctx.shared.set(patchedKey(v.scope), changedParameters(changes));
    return { changed: true, summary: `PATCH /config: ${describeChanges(changes)}`, diff: dcsDiff(`${ctx.vars.namespace}${ctx.vars.scope}/config`, changes) };
  },
});

/** How long a replica's read sessions get to finish on the balancers before its restart cuts them. */
const DRAIN_SECONDS = 10;

/**
 * A replica out of every balancer's read pool while `fn` restarts it, back after: reads go to
 * the others instead of failing (as upgrade.ts does). Each drain is recorded on its balancer
 * first; a balancer that cannot be reached is a warning (its reads to the member are cut).
 */
async function outOfReadPool<T>(ctx: Ctx, member: string, fn: () => Promise<T>): Promise<T> {
  const drained: Array<{ lb: Delegate; pools: Pools }> = [];
  const reason = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0] : String(e));
  await Promise.all(
    hostsOf(ctx.inventory, ctx.vars.groups.balancers).map(async (h) => {
      try {
        const lb = await ctx.delegate(h.name);
        const pools = poolsOf(h, ctx.inventory);
        await setPoolState(lb, pools.socket, pools.read, member, 'drain');
        drained.push({ lb, pools });
      } catch (e) {
        ctx.warn(`${h.name}: could not take ${member} out of the read pool before its restart (${reason(e)}): reads there are cut by it`);
      }
    }),
  );
  try {
    await waitUntil(`${member}'s read sessions to finish`, DRAIN_SECONDS * 1000, async () => {
      const left = (await Promise.all(drained.map((x) => sessionsIn(x.lb, x.pools.socket, x.pools.read, member)))).reduce((a, b) => a + b, 0);
      return left === 0 ? { done: true, value: undefined } : { done: false, seen: `${left} session(s)` };
    }, { intervalMs: 500 }).catch((e: unknown) => ctx.warn(`${member}: ${reason(e)}: they are cut by the restart`));
    return await fn();
  } finally {
    const back = await Promise.allSettled(drained.map((x) => setPoolState(x.lb, x.pools.socket, x.pools.read, member, 'ready')));
    back.forEach((r, i) => {
      if (r.status === 'rejected') ctx.warn(`${drained[i]!.lb.host.name}: could not put ${member} back in the read pool (${reason(r.reason)}); the next run does`);
    });
  }
}

export const restartPending = step({
  name: 'patroni: restart members with pending_restart (replicas first, leader last)',
  inCheckMode: 'run',
  when: (ctx) => ctx.vars.restartPending === 'rolling',
  async run(ctx) {
    const v = ctx.vars;
    const patched = ctx.shared.get(patchedKey(v.scope)) ?? [];
    // Nothing patched in this run: the gate's view is still current.
    const handedOn = ctx.shared.take(seenForRestartKey(v.scope, ctx.host.name));
    const seen = patched.length === 0 ? handedOn : undefined;
    let cs = seen ?? (await liveCluster(ctx));
    if (!cs) return { changed: false };
    if (leaderOf(cs).name !== ctx.host.name) return { changed: false, message: `the leader (${leaderOf(cs).name}) does it` };
    if (!ctx.check && patched.length > 0) {
      const needRestart = await restartOnlyParameters(ctx, v.postgresql.port, patched);
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
    const flagged = cs.members.filter((m) => m.pendingRestart);
    if (flagged.length === 0) return { changed: false };
    // From what is in force on the leader, not from what this run patched: a raise goes
    // replicas first, a lowered standby limit the leader first.
    const lowered = await standbyLimitsLowered(ctx, v.postgresql.port);
    const pending = restartOrder(flagged, lowered.length > 0);
    if (lowered.length) ctx.log(`lowered ${lowered.join(', ')}: the leader restarts first (a standby may not run below its primary)`);
    const names = pending.map((m) => m.name).join(', ');
    if (ctx.check) return { changed: true, summary: `would restart PostgreSQL on ${names}` };
    const everyone = cs.members.map((x) => x.name);
    const restartOne = async (m: Member) => {
      const restart = () => restartMember(ctx, apiBaseOf(m), authOf(v), v.startTimeoutSeconds);
      await (m.role === 'leader' ? restart() : outOfReadPool(ctx, m.name, restart));
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
});

/**
 * patroni.yml holds the passwords, so the file op hides its content; with --diff this step
 * shows the real change with every password line masked (a DCS setting is worth seeing).
 */
/**
 * Patroni's own validator on the new file before it replaces the old one. Only where it can skip
 * the listen ports (`--ignore-listen-port`, Patroni 4.0+): without that it fails on every running
 * member because Patroni and PostgreSQL hold those ports. Debian 12's 3.0.2 has no such flag.
 */
const VALIDATE_CONFIG = 'if patroni --help 2>&1 | grep -q -e --ignore-listen-port; then patroni --validate-config --ignore-listen-port %s; fi';

export function configFile(path: string, yml: string): RunTask {
  return step({
    name: `patroni: ${path}`,
    inCheckMode: 'run',
    notify: ['reload patroni'],
    async run(c) {
      const before = c.diff ? await c.exec(`cat ${shQuote(path)} 2>/dev/null`) : null;
      const out = await settleInside(c, file({ path, content: yml, mode: '0600', owner: 'postgres', group: 'postgres', sensitive: true, validate: VALIDATE_CONFIG }));
      if (!out.changed || before === null) return out;
      return { ...out, diff: redact(unifiedDiff(path, maskPasswords(before.code === 0 ? before.stdout : ''), maskPasswords(yml))) };
    },
  });
}

const startedThisRun = (ctx: Ctx) => ctx.shared.get(startedKey(ctx.vars.scope, ctx.host.name)) === true;

/** Patroni re-reads patroni.yml on SIGHUP (the unit's ExecReload); PostgreSQL keeps running. */
export const reload = step({
  name: 'patroni: reload (re-read patroni.yml)',
  async run(c) {
    if (startedThisRun(c)) return { changed: false, message: 'started in this run with the new file' };
    if (!isActive(await unitState(c))) return { changed: false, message: 'not running' };
    await c.run(`systemctl reload -- ${shQuote(unitOf(c.vars))}`);
    return { changed: true, summary: 'reloaded' };
  },
});

/**
 * A unit change reaches systemd now; the running Patroni keeps its process (restarting it
 * on the leader is a failover): the new unit applies at the next rolling restart.
 */
export const daemonReload = step({
  name: 'patroni: systemd daemon-reload',
  async run(c) {
    const before = await unitState(c);
    if (before.load === 'loaded' && !before.needReload) return { changed: false, message: 'systemd already has the current unit' };
    await c.run('systemctl daemon-reload');
    if (!startedThisRun(c) && isActive(before))
      c.warn(`${unitOf(c.vars)} changed: it applies when Patroni next restarts (use a rolling restart, leader last)`);
    return { changed: true, summary: 'daemon-reload' };
  },
});
