/**
 * Role keepalived: the virtual IP over the balancers, moved away from a balancer whose
 * HAProxy is not running. A change reloads keepalived; the play ends with the VIP on exactly
 * one balancer.
 */
import { defineRole } from '../../src/engine/role.ts';
import { TaskError } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { file, packages, service, user } from '../../src/ops/index.ts';
import { waitSingleHolder } from './live.ts';
import { keepalivedConfig, renderKeepalivedConf, type Placement } from './render.ts';
import { KeepalivedVarsSchema, type KeepalivedVars } from './vars.ts';
import { hostsOf } from '../../src/toolkit/index.ts';

function placement(v: KeepalivedVars, host: Host, members: Host[], defaultIface: string | undefined): Placement {
  const index = members.findIndex((m) => m.name === host.name);
  if (index < 0 && v.priority === undefined) {
    throw new TaskError(`keepalived: ${host.name} is not in group "${v.group}", so it has no priority; add it to the group or set keepalived.priority`);
  }
  const iface = v.interface ?? defaultIface;
  if (!iface) throw new TaskError(`keepalived: ${host.name} has no default route to pick the interface from; set keepalived.interface`);
  return {
    host: host.name,
    index: index < 0 ? members.length : index,
    groupSize: members.length,
    interface: iface,
    address: host.connection.address,
    peers: members.filter((m) => m.name !== host.name).map((m) => m.connection.address),
  };
}

export const keepalived = defineRole({
  name: 'keepalived',
  description: 'keepalived VRRP: the virtual IP on one balancer, moved off a balancer whose HAProxy is down',
  dependsOn: ['haproxy'],
  vars: KeepalivedVarsSchema,
  tasks(ctx) {
    const v = ctx.vars;
    const members = hostsOf(ctx.inventory, v.group, { varName: 'keepalived.group' });
    const place = placement(v, ctx.host, members, ctx.facts.defaultIpv4?.interface);
    const conf = renderKeepalivedConf(keepalivedConfig(v, place, v.authPassword?.reveal()));
    return [
      packages({ names: [v.package, 'procps'] }),
      user({ name: v.scriptUser, system: true, shell: '/usr/sbin/nologin', createHome: false, home: '/nonexistent' }),
      file({
        path: v.configPath,
        content: conf,
        mode: '0600',
        owner: 'root',
        group: 'root',
        // Always: the file on the host may still hold an auth_pass from before (removing the
        // password would otherwise show the old one in the diff).
        sensitive: true,
        notify: ['reload keepalived'],
      }),
      service({ name: v.service, enabled: true, state: 'started' }),
      { kind: 'flush', name: 'reload keepalived if its config changed' },
      waitSingleHolder({ vip: v.virtualIp, group: members.map((m) => m.name), rounds: 30, intervalMs: 1000 }),
    ];
  },
  handlers: {
    'reload keepalived': (ctx) => [service({ name: ctx.vars.service, state: 'reloaded' })],
  },
});

export default keepalived;
