/**
 * Role patroni: Patroni runs PostgreSQL on every host of the `postgres` group. A new cluster
 * starts leader first (the first host), the replicas after it; a gate waits for every member
 * to be running. On a live cluster, local config changes reload Patroni (handler) and
 * cluster-wide settings go through PATCH /config on the leader, learned live; members left
 * with pending_restart are restarted replicas first, leader last. The steps are steps.ts;
 * what other roles and playbooks may use is exports.ts. See README.md.
 */
import { posix } from 'node:path';
import { defineRole, type RoleContext } from '../../src/engine/role.ts';
import type { Task } from '../../src/engine/types.ts';
import { directory, file, packages, service } from '../../src/ops/index.ts';
import { PatroniVarsSchema, type PatroniVars } from './vars.ts';
import { patroniConfigFor, postgresVersionOf, renderPatroniYaml, renderUnit, withRelease } from './render.ts';
import { checkBinaries, configFile, daemonReload, gate, reload, restartPending, splitBrainGuard, start, syncDcs, unitOf } from './steps.ts';

type Ctx = RoleContext<PatroniVars>;

function tasks(ctx: Ctx): Task[] {
  // The host's release decides what the inventory left unset; handlers share this context.
  ctx.vars = withRelease(ctx.vars, ctx.facts);
  const v = ctx.vars;
  const yml = renderPatroniYaml(patroniConfigFor(v, ctx.host, ctx.inventory));
  const watchdog = v.watchdog.mode !== 'off';
  const unit = renderUnit({ scope: v.scope, configFile: v.configFile, watchdog, watchdogDevice: v.watchdog.device });
  return [
    packages({ names: v.packages }),
    splitBrainGuard,
    checkBinaries,
    // Debian's unit would run a second Patroni from /etc/patroni/config.yml, and its package
    // upgrades restart it: ours is the only one.
    service({ name: 'patroni', masked: true, taskName: "patroni: Debian's patroni.service masked" }),
    // Debian layout: nothing creates /var/lib/postgresql/<version> without a stock cluster.
    ...(v.dataDir === undefined ? [directory({ path: `/var/lib/postgresql/${postgresVersionOf(v)}`, owner: 'postgres', group: 'postgres', mode: '0755' })] : []),
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

export const patroni = defineRole({
  name: 'patroni',
  description: 'Patroni (PostgreSQL HA): config, our unit, ordered bootstrap, member gate, DCS settings via the leader',
  dependsOn: ['postgres', 'etcd', 'haproxy'],
  vars: PatroniVarsSchema,
  tasks,
  handlers: {
    'reload patroni': () => [reload],
    'patroni unit changed': () => [daemonReload],
  },
});

export default patroni;
