/**
 * Role softdog: a watchdog device for Patroni, loaded now and at every boot, owned by the
 * user Patroni runs as. Where the kernel cannot provide one, fail only if Patroni requires it.
 */
import { dirname } from 'node:path';
import { defineRole } from '../../src/engine/role.ts';
import { TaskError, type OpTask } from '../../src/engine/types.ts';
import { directory, file } from '../../src/ops/index.ts';
import { shQuote } from '../../src/transport/types.ts';
import { effectiveWatchdogMode, ownershipDiffers, parseProbe, probeScript, watchdogVerdict } from './live.ts';
import { renderModprobeOptions, renderModulesLoad, renderUdevRule } from './render.ts';
import { SoftdogVarsSchema, type SoftdogVars } from './vars.ts';

function fixOwnerScript(v: SoftdogVars): string {
  const dev = shQuote(v.device);
  return `chown ${shQuote(`${v.owner}:${v.group}`)} ${dev} && chmod ${shQuote(v.mode)} ${dev}`;
}

/** Probe the kernel, then load the module / fix the device owner, or warn / fail. */
function watchdogDevice(v: SoftdogVars): OpTask {
  return {
    kind: 'op',
    name: `watchdog device ${v.device} (${v.module})`,
    probe: probeScript(v),
    plan(probe, ctx) {
      const p = parseProbe(probe.stdout);
      const mode = effectiveWatchdogMode(v, ctx.host.vars);
      const verdict = watchdogVerdict(p, ctx.facts.virtualization, v, mode);
      if (verdict.kind === 'unavailable') {
        if (verdict.fatal) throw new TaskError(verdict.reason);
        ctx.warn(verdict.reason);
        return { change: false, message: 'no watchdog on this host (warned)' };
      }
      if (!p.ownerExists) {
        // The udev rule applies once the user exists (next boot or udev event).
        ctx.warn(`user ${v.owner} does not exist yet: ${v.device} stays as it is until the postgres packages are installed and the role runs again`);
      }
      if (verdict.kind === 'load') {
        return {
          change: true,
          summary: `modprobe ${v.module}${p.ownerExists ? `; ${v.device} -> ${v.owner}:${v.group} ${v.mode}` : ''}`,
          commands: [
            {
              script: [
                `modprobe ${shQuote(v.module)}`,
                // udev creates the node asynchronously; give it up to 5 s.
                `i=0; while [ ! -c ${shQuote(v.device)} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`,
                `[ -c ${shQuote(v.device)} ] || { echo "${v.module} loaded but ${v.device} did not appear" >&2; exit 1; }`,
                ...(p.ownerExists ? [fixOwnerScript(v)] : []),
              ].join('\n'),
              what: `modprobe ${v.module}`,
            },
          ],
        };
      }
      if (p.ownerExists && ownershipDiffers(p, v)) {
        return {
          change: true,
          summary: `${v.device}: ${p.owner} ${p.mode} -> ${v.owner}:${v.group} ${v.mode}`,
          commands: [{ script: fixOwnerScript(v), what: `setting the owner and mode of ${v.device}` }],
        };
      }
      return { change: false, message: `${v.device} ready` };
    },
  };
}

export const softdog = defineRole({
  name: 'softdog',
  description: 'Watchdog device for Patroni (softdog at boot and now, owned by postgres); warns or fails where the kernel cannot',
  vars: SoftdogVarsSchema,
  tasks(ctx) {
    const v = ctx.vars;
    const options = renderModprobeOptions(v);
    return [
      file({ path: v.modulesLoadPath, content: renderModulesLoad(v), mode: '0644', owner: 'root', group: 'root' }),
      options === null
        ? file({ path: v.modprobeOptionsPath, state: 'absent' })
        : file({ path: v.modprobeOptionsPath, content: options, mode: '0644', owner: 'root', group: 'root' }),
      // Hosts without udev (containers) lack the directory; the rule still waits there for a udev.
      directory({ path: dirname(v.udevRulePath), mode: '0755', owner: 'root', group: 'root' }),
      file({ path: v.udevRulePath, content: renderUdevRule(v), mode: '0644', owner: 'root', group: 'root' }),
      watchdogDevice(v),
    ];
  },
});

export default softdog;
