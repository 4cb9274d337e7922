/**
 * One database member through a rolling upgrade or restart, as a DBA would do it by hand:
 * out of the read pool, sessions drained, CHECKPOINT, packages, restart, back to running and
 * streaming within the lag bound, back in the pool. The leader first hands over to its
 * synchronous standby (switchover.ts); a synchronous standby first hands that role to
 * another replica, so commits never wait for a member that is restarting. Whatever fails,
 * what the rollout changed (pool state, the nosync tag, a stopped Patroni) is put back.
 */
import { parseDocument, YAMLMap } from 'yaml';
import { TaskError, type TaskContext } from '../../../src/engine/types.ts';
import { shQuote } from '../../../src/transport/types.ts';
import { temporarily, UNDO_DIR, waitUntil } from '../../../src/toolkit/index.ts';
import { clusterState, describeCluster, isRunning, restartMember, apiBaseOf, selfState, type Member } from '../../../roles/patroni/live.ts';
import type { PatroniVars } from '../../../roles/patroni/vars.ts';
import { setRouteState, waitInReadPool, waitReadSessionsGone } from './balancers.ts';
import type { ClusterLayout } from './context.ts';
import { clusterHealth, requireHealthy } from './members.ts';
import { applyUpgrade, describeUpgrades } from './packages.ts';
import { checkpoint } from './pg.ts';
import { pickCandidate, switchover } from './switchover.ts';
import type { RolloutVars } from './vars.ts';
import { staleProcessScript, type MemberWork } from './work.ts';

type Ctx = Pick<TaskContext, 'delegate' | 'log' | 'warn' | 'exec' | 'run' | 'host'>;

const postmasterPid = (dataDir: string) => `$(head -n 1 ${shQuote(`${dataDir}/postmaster.pid`)} 2>/dev/null)`;
const patroniPid = (v: PatroniVars) => `$(systemctl show -p MainPID --value ${shQuote(`${v.serviceName}.service`)})`;

export type RestartKind = 'patroni' | 'postgres' | null;

/** What must restart on this member now, and why (live: run it again after an upgrade). */
export async function restartNeeded(ctx: Pick<TaskContext, 'exec'>, v: PatroniVars, dataDir: string): Promise<{ kind: RestartKind; reasons: string[] }> {
  const sep = '@@RIGGER@@';
  // Subshells: each script exits as soon as it knows.
  const r = await ctx.exec(`(\n${staleProcessScript(patroniPid(v), { dpkgList: '/var/lib/dpkg/info/patroni.list' })}\n)\necho ${sep}\n(\n${staleProcessScript(postmasterPid(dataDir))}\n)`);
  const [pat = '', pg = ''] = r.stdout.split(`${sep}\n`).map((s) => s.trim());
  const self = await selfState(ctx, { port: v.restapi.port });
  const reasons: string[] = [];
  if (pat === 'stale') reasons.push('Patroni runs code replaced on disk');
  if (pg === 'stale') reasons.push('PostgreSQL runs binaries replaced on disk');
  if (self.pendingRestart) reasons.push('Patroni reports pending_restart');
  return { kind: pat === 'stale' ? 'patroni' : reasons.length ? 'postgres' : null, reasons };
}

/** The member's patroni.yml with tags.nosync set (same text otherwise, as far as YAML allows). */
export function withNosync(yml: string, nosync: boolean): string {
  const doc = parseDocument(yml, { version: '1.1' });
  // A plain map even where the file has no tags yet (yaml would write a YAML 1.1 !!omap).
  if (!(doc.getIn(['tags']) instanceof YAMLMap)) doc.setIn(['tags'], new YAMLMap());
  doc.setIn(['tags', 'nosync'], nosync);
  return doc.toString({ lineWidth: 0 });
}

async function reloadPatroni(ctx: Pick<TaskContext, 'run'>, v: PatroniVars): Promise<void> {
  await ctx.run(`systemctl reload -- ${shQuote(`${v.serviceName}.service`)}`);
}

/**
 * Hands the synchronous standby role to another running replica for the duration of `fn`
 * (tag nosync on this member, Patroni reloaded), then restores the file exactly as it was.
 */
async function asyncDuring<T>(ctx: Ctx, layout: ClusterLayout, me: string, fn: () => Promise<T>): Promise<T> {
  const v = layout.patroni;
  const cs = await clusterState(ctx, { port: v.restapi.port });
  const other = cs.members.find((m) => m.name !== me && m.role === 'replica' && isRunning(m));
  if (!other) {
    ctx.warn(`${me} is the only standby able to be synchronous: commits wait while it restarts`);
    return fn();
  }
  const original = await ctx.run(`cat ${shQuote(v.configFile)}`);
  const write = (text: string) => ctx.run(`umask 077; cat > ${shQuote(`${v.configFile}.rigger-tmp`)} && chown postgres:postgres ${shQuote(`${v.configFile}.rigger-tmp`)} && mv ${shQuote(`${v.configFile}.rigger-tmp`)} ${shQuote(v.configFile)}`, { stdin: text });
  // The file as it was, kept on the host (it holds the passwords: never sent anywhere) for
  // the next run to put back if this one dies while the tag is set.
  const saved = shQuote(`${UNDO_DIR}/patroni-nosync.yml`);
  const conf = shQuote(v.configFile);
  const unit = shQuote(`${v.serviceName}.service`);
  await ctx.run(`umask 077; mkdir -p ${UNDO_DIR} && cp -p ${conf} ${saved}`);
  const undo = `if [ -f ${saved} ]; then cp -p ${saved} ${conf} && { ! systemctl is-active --quiet ${unit} || systemctl reload ${unit}; }; fi && rm -f ${saved}`;
  const what = `${me}: tags.nosync set in ${v.configFile} (its synchronous standby role handed over while it restarts)`;
  return temporarily(ctx, { id: 'patroni:nosync', what, undo }, async () => void (await write(withNosync(original, true))), async () => {
    await reloadPatroni(ctx, v);
    await waitUntil(
      `another member to become the synchronous standby instead of ${me}`,
      (v.dcs.loopWait * 3 + 10) * 1000,
      async () => {
        const s = await clusterState(ctx, { port: v.restapi.port });
        const sync = s.members.filter((m) => m.role === 'sync_standby');
        return sync.length > 0 && !sync.some((m) => m.name === me) ? { done: true, value: undefined } : { done: false, seen: describeCluster(s) };
      },
      { intervalMs: 500 },
    );
    ctx.log(`${me} is asynchronous while it restarts`);
    return fn();
  }, async () => {
    await write(original);
    await reloadPatroni(ctx, v);
    await ctx.run(`rm -f ${saved}`);
    // Done when Patroni publishes the tag gone: a run started right after must not find it.
    if (!v.tags.nosync) await waitUntil(
      `Patroni to publish ${me} without tags.nosync`,
      (v.dcs.loopWait * 3 + 10) * 1000,
      async () => {
        const s = await clusterState(ctx, { port: v.restapi.port });
        return s.members.some((m) => m.name === me && m.nosync) ? { done: false, seen: describeCluster(s) } : { done: true, value: undefined };
      },
      { intervalMs: 500 },
    );
  });
}

async function restartHere(ctx: Ctx, layout: ClusterLayout, me: Member, kind: Exclude<RestartKind, null>): Promise<void> {
  const v = layout.patroni;
  const unit = `${v.serviceName}.service`;
  if (kind === 'patroni') {
    const r = await ctx.exec(`systemctl restart -- ${shQuote(unit)}`);
    if (r.code !== 0) {
      // A real finally: never leave the member's Patroni stopped.
      await ctx.exec(`systemctl start -- ${shQuote(unit)}`);
      throw new TaskError(`systemctl restart ${unit} failed: ${r.stderr.trim()}`);
    }
    return;
  }
  await restartMember(ctx, apiBaseOf(me), { username: v.restapi.username, password: v.restapi.password }, v.startTimeoutSeconds);
}

/** This member running again, streaming from the leader within the bound (the per-member gate). */
async function waitBack(ctx: Ctx, layout: ClusterLayout, name: string, r: RolloutVars): Promise<void> {
  const v = layout.patroni;
  await waitUntil(
    `${name} to run and stream within ${r.maxLagBytes} bytes of the leader`,
    r.memberTimeoutSeconds * 1000,
    async () => {
      try {
        const h = await clusterHealth(ctx, ctx.host.name, [name], v, r.maxLagBytes);
        return h.problems.length === 0 ? { done: true, value: undefined } : { done: false, seen: `${h.problems.join('; ')} [${describeCluster(h.cluster)}]` };
      } catch (e) {
        return { done: false, seen: e instanceof Error ? e.message : String(e) };
      }
    },
    { intervalMs: 1000 },
  );
}

/**
 * Rolls this member; says what it did. `leaderInPlace`: the leader restarts where it is (a lowered standby
 * limit needs the primary restarted first) instead of switching over.
 */
export async function rollMember(ctx: Ctx, layout: ClusterLayout, work: MemberWork, r: RolloutVars, dataDir: string, leaderInPlace: boolean): Promise<string> {
  const v = layout.patroni;
  const me = ctx.host.name;
  const done: string[] = [];

  const health = await clusterHealth(ctx, me, layout.members.map((h) => h.name), v, r.maxLagBytes);
  requireHealthy(health, `not touching ${me}: the cluster is not healthy`);
  let self = health.cluster.members.find((m) => m.name === me);
  if (!self) throw new TaskError(`${me} is not a member of cluster ${v.scope}`);

  if (self.role === 'leader' && !leaderInPlace) {
    const candidate = pickCandidate(health.cluster.members, self, r.candidate, v.dcs.synchronousMode);
    const s = await switchover(ctx, layout, self, candidate, r.switchoverTimeoutSeconds);
    done.push(`switched over to ${candidate.name} (writes on it after ${(s.writableAfterMs / 1000).toFixed(1)} s)`);
    // The old leader comes back as a replica of the new one; then it goes like any replica.
    await waitBack(ctx, layout, me, r);
    self = (await clusterState(ctx, { port: v.restapi.port })).members.find((m) => m.name === me)!;
  }

  const roll = async () => {
    const isLeader = self!.role === 'leader';
    // The drain inside the try: a balancer drained while another failed is put back too.
    try {
      if (!isLeader) {
        await setRouteState(ctx, layout.balancers, me, 'drain');
        done.push('drained');
        const { left } = await waitReadSessionsGone(ctx, layout.balancers, me, r.drainTimeoutSeconds * 1000);
        if (left > 0) ctx.warn(`${me}: ${left} read session(s) still open after ${r.drainTimeoutSeconds} s: they are cut by the restart`);
      }
      await checkpoint(ctx, v.postgresql.port);
      if (work.aptArgs && work.upgrades.length) {
        await applyUpgrade(ctx, work.aptArgs);
        done.push(`upgraded ${describeUpgrades(work.upgrades)}`);
      }
      const live = await restartNeeded(ctx, v, dataDir);
      const need = live.kind === null && work.forceRestart ? { kind: 'postgres' as const, reasons: work.restartReasons } : live;
      if (need.kind) {
        await restartHere(ctx, layout, self!, need.kind);
        done.push(`restarted ${need.kind === 'patroni' ? 'Patroni and PostgreSQL' : 'PostgreSQL'} (${need.reasons.join('; ')})`);
        if (isLeader) {
          await waitUntil(`${me} to lead again`, r.memberTimeoutSeconds * 1000, async () => {
            const s = await selfState(ctx, { port: v.restapi.port }).catch(() => null);
            return s?.role === 'primary' && s.state === 'running' ? { done: true, value: undefined } : { done: false, seen: s ? `${s.role} ${s.state}` : 'no answer' };
          });
          // Its replicas reconnect (every wal_retrieve_retry_interval): all of them, before the next member.
          for (const m of layout.members.filter((h) => h.name !== me)) await waitBack(ctx, layout, m.name, r);
        } else await waitBack(ctx, layout, me, r);
      }
    } finally {
      if (!isLeader) await setRouteState(ctx, layout.balancers, me, 'ready');
    }
    if (!isLeader) await waitInReadPool(ctx, layout.balancers, me, r.memberTimeoutSeconds * 1000);
  };

  if (self.role === 'sync_standby') await asyncDuring(ctx, layout, me, roll);
  else await roll();
  return done.join(', ');
}
