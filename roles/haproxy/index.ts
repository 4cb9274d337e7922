/**
 * Role haproxy: the cluster's front door on each balancer. Config validated before it
 * replaces the old one; a change reloads (never restarts) HAProxy.
 */
import { defineRole } from '../../src/engine/role.ts';
import { TaskError } from '../../src/engine/types.ts';
import { file, packages, service } from '../../src/ops/index.ts';
import { haproxyConfig, renderHaproxyCfg } from './render.ts';
import { HaproxyVarsSchema } from './vars.ts';
import { hostsOf, stepsFor } from '../../src/toolkit/index.ts';
import { serverStates, setServerState } from './live.ts';
import type { HaproxyVars } from './vars.ts';

const step = stepsFor<HaproxyVars>();

/**
 * The pools as the config says: every server READY at the admin level (health decides the
 * rest). A drain or MAINT left by hand, or by a run that died before its undo, is put back
 * and reported as a change. Runs under the cluster's run lock, so never under a live rollout.
 */
const serversReady = step({
  name: 'haproxy: every server ready (no drain or maint left behind)',
  inCheckMode: 'run',
  async run(ctx) {
    const v = ctx.vars;
    let states;
    try {
      states = await serverStates(ctx, v.adminSocket);
    } catch (e) {
      if (ctx.check) return { changed: false, message: 'HAProxy not running yet' };
      throw e;
    }
    // A server the new config drops (a member being removed) stays as it is until the reload.
    const kept = new Set(hostsOf(ctx.inventory, v.backendGroup).map((h) => h.name));
    const off = states.filter((s) => (s.backend === v.primaryName || s.backend === v.replicaName) && s.admin !== 'ready' && kept.has(s.server));
    if (off.length === 0) return { changed: false };
    if (!ctx.check) for (const s of off) await setServerState(ctx, s.backend, s.server, 'ready', v.adminSocket);
    return { changed: true, summary: `set ready: ${off.map((s) => `${s.server} in ${s.backend} (was ${s.admin.toUpperCase()})`).join(', ')}` };
  },
});

export const haproxy = defineRole({
  name: 'haproxy',
  description: 'HAProxy: 5000 -> Patroni leader, 5001 -> replicas, stats on 7000; reload on change',
  vars: HaproxyVarsSchema,
  tasks(ctx) {
    const v = ctx.vars;
    const backends = hostsOf(ctx.inventory, v.backendGroup, { varName: 'haproxy.backendGroup' }).map((h) => ({ name: h.name, address: h.connection.address }));
    if (backends.length === 0) throw new TaskError(`haproxy: group "${v.backendGroup}" has no hosts to route to`);
    return [
      packages({ names: [v.package, ...(v.installSocat ? ['socat'] : [])] }),
      file({
        path: v.configPath,
        content: renderHaproxyCfg(haproxyConfig(v, backends)),
        mode: '0644',
        owner: 'root',
        group: 'root',
        validate: 'haproxy -c -f %s',
        notify: ['reload haproxy'],
      }),
      service({ name: v.service, enabled: true, state: 'started' }),
      serversReady,
    ];
  },
  handlers: {
    'reload haproxy': (ctx) => [service({ name: ctx.vars.service, state: 'reloaded' })],
  },
});

export default haproxy;
