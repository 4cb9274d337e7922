/**
 * Role chrony: clock sync on every host. In a container chrony cannot steer the clock (the
 * unit's ConditionCapability=CAP_SYS_TIME skips it): configure, then say so as a warning.
 */
import { defineRole } from '../../src/engine/role.ts';
import { TaskError, type OpTask, type RunTask, type Task } from '../../src/engine/types.ts';
import { file, packages, service } from '../../src/ops/index.ts';
import { shQuote } from '../../src/transport/types.ts';
import { renderChronyConf } from './render.ts';
import { ChronyVarsSchema, type ChronyVars } from './vars.ts';

/** In a container: warn unless the unit really runs there (a container given CAP_SYS_TIME). */
function containerNotice(v: ChronyVars, virtualization: string): OpTask {
  return {
    kind: 'op',
    name: `chrony in a container (${virtualization})`,
    probe: `systemctl show -p ActiveState -p ConditionResult ${shQuote(v.service)} 2>/dev/null || true`,
    plan(probe, ctx) {
      if (/^ActiveState=active$/m.test(probe.stdout)) return { change: false, message: 'running (the container may set the clock)' };
      const skipped = /^ConditionResult=no$/m.test(probe.stdout) ? 'unit skipped by ConditionCapability=CAP_SYS_TIME' : 'unit not active';
      ctx.warn(`chrony configured but not running: container (${virtualization}), ${skipped}; the clock is the container host's`);
      return { change: false, message: 'configured; not running in a container' };
    },
  };
}

/** Waits until chronyd says the clock is synchronised; on timeout shows what chronyc sees. */
function waitSync(v: ChronyVars): RunTask {
  return {
    kind: 'run',
    name: `wait for clock sync (< ${v.waitSync.maxCorrectionS} s, ${v.waitSync.timeoutS} s max)`,
    async run(ctx) {
      const script = [
        `if chronyc waitsync ${v.waitSync.timeoutS} ${v.waitSync.maxCorrectionS} 0 1 >/dev/null 2>&1; then echo synced; exit 0; fi`,
        'echo "not synchronised"; chronyc tracking 2>&1; chronyc -n sources 2>&1',
        'exit 1',
      ].join('\n');
      const r = await ctx.exec(script, { timeoutMs: (v.waitSync.timeoutS + 15) * 1000 });
      if (r.code !== 0) {
        throw new TaskError(`clock not synchronised after ${v.waitSync.timeoutS} s; last seen:\n${r.stdout.trim().split('\n').slice(-14).join('\n')}`);
      }
      return { changed: false, message: 'clock synchronised' };
    },
  };
}

export const chrony = defineRole({
  name: 'chrony',
  description: 'Clock sync (chrony) on every host; in a container: configured, reported, not run',
  vars: ChronyVarsSchema,
  tasks(ctx) {
    const v = ctx.vars;
    const container = ctx.facts.virtualization.container;
    const tasks: Task[] = [
      packages({ names: [v.package] }),
      file({
        path: v.configPath,
        content: renderChronyConf(v),
        mode: '0644',
        owner: 'root',
        group: 'root',
        ...(container ? {} : { notify: ['restart chrony'] }),
      }),
    ];
    if (container) {
      tasks.push(service({ name: v.service, enabled: true }), containerNotice(v, ctx.facts.virtualization.type));
      return tasks;
    }
    tasks.push(service({ name: v.service, enabled: true, state: 'started' }));
    if (v.waitSync.enabled) tasks.push({ kind: 'flush', name: 'restart chrony if its config changed' }, waitSync(v));
    return tasks;
  },
  handlers: {
    'restart chrony': (ctx) => [service({ name: ctx.vars.service, state: 'restarted' })],
  },
});

export default chrony;
