/**
 * Role haproxy: the cluster's front door on each balancer. Config validated before it
 * replaces the old one; a change reloads (never restarts) HAProxy.
 */
import { defineRole } from '../../src/engine/role.ts';
import { TaskError } from '../../src/engine/types.ts';
import { file, packages, service } from '../../src/ops/index.ts';
import { haproxyConfig, renderHaproxyCfg } from './render.ts';
import { HaproxyVarsSchema } from './vars.ts';
import { hostsOf } from '../../src/toolkit/index.ts';

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
    ];
  },
  handlers: {
    'reload haproxy': (ctx) => [service({ name: ctx.vars.service, state: 'reloaded' })],
  },
});

export default haproxy;
