/**
 * kernelModule: a loaded kernel module, persisted in /etc/modules-load.d/NAME.conf. When the
 * kernel cannot provide it (no modprobe, no such module, a container), `ifUnavailable`
 * decides: 'fail' (default) fails with the reason, 'warn' reports ok with a warning.
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpCommand, type OpPlan, type OpTask, type TaskContext } from '../engine/types.ts';
import { namedTaskBase, parseSpec, type NamedOpCommon } from './common.ts';
import { atomicWriteScript } from './file.ts';
import { parseKv } from '../facts/probe-kv.ts';

const KernelModuleSpec = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected a kernel module name'),
  persist: z.boolean().default(true),
  ifUnavailable: z.enum(['fail', 'warn']).default('fail'),
});
/** `name` is the module; the task name is `taskName`. */
export type KernelModuleOptions = NamedOpCommon & z.input<typeof KernelModuleSpec>;

export interface ModuleState {
  loaded: boolean;
  builtin: boolean;
  modprobe: boolean;
  /** `modprobe -n` found it for the running kernel. */
  available: boolean;
  persisted: boolean;
  kernel: string;
}

export function parseModuleState(stdout: string): ModuleState {
  const kv = parseKv(stdout);
  return {
    loaded: kv.get('loaded') === 'yes',
    builtin: kv.get('builtin') === 'yes',
    modprobe: kv.get('modprobe') === 'yes',
    available: kv.get('available') === 'yes',
    persisted: kv.get('persisted') === 'yes',
    kernel: kv.get('kernel') ?? '',
  };
}

export function modulesLoadPath(name: string): string {
  return `/etc/modules-load.d/${name}.conf`;
}

export function kernelModule(o: KernelModuleOptions): OpTask {
  const spec = parseSpec('kernelModule', KernelModuleSpec, o);
  const name = spec.name;
  const q = shQuote(name);
  const conf = modulesLoadPath(name);
  // /proc/modules spells every module with underscores; modules.builtin keeps the file name.
  const under = name.replace(/-/g, '_');
  const either = [...new Set([name, under, name.replace(/_/g, '-')])].join('|');

  return {
    kind: 'op',
    ...namedTaskBase(o, `kernel module ${name}`),
    probe: [
      `k=$(uname -r); echo "kernel=$k"`,
      `if grep -q ${shQuote(`^${under} `)} /proc/modules 2>/dev/null; then echo loaded=yes; fi`,
      `if grep -Eq ${shQuote(`/(${either})\\.ko(\\.[a-z]+)?$`)} "/lib/modules/$k/modules.builtin" 2>/dev/null; then echo builtin=yes; fi`,
      `if command -v modprobe >/dev/null 2>&1; then echo modprobe=yes; if modprobe -n -q -- ${q} 2>/dev/null; then echo available=yes; fi; fi`,
      `if grep -qx -- ${q} ${shQuote(conf)} 2>/dev/null; then echo persisted=yes; fi`,
      'true',
    ].join('\n'),
    plan(probe, ctx): OpPlan {
      const cur = parseModuleState(probe.stdout);
      const present = cur.loaded || cur.builtin;
      if (!present) {
        const why = unavailableReason(cur, ctx, name);
        if (why) return unavailable(ctx, name, why, spec.ifUnavailable);
      }
      const persist = spec.persist && !cur.builtin && !cur.persisted;
      if (present && !persist) return { change: false, ...(cur.builtin && !cur.loaded ? { message: 'built into the kernel' } : {}) };
      const summary = [!present && `load ${name}`, persist && `persist in ${conf}`].filter(Boolean).join(', ');
      return { change: true, summary, commands: [moduleCommand(name, !present, persist, spec.ifUnavailable)] };
    },
  };
}

function unavailableReason(cur: ModuleState, ctx: TaskContext, name: string): string | null {
  const v = ctx.facts.virtualization;
  if (v.container) return `running in a container (${v.type}): only the host can load kernel modules`;
  if (!cur.modprobe) return 'modprobe is not installed (package kmod)';
  if (!cur.available) return `no module ${name} for kernel ${cur.kernel || 'unknown'}`;
  return null;
}

function unavailable(ctx: TaskContext, name: string, why: string, policy: 'fail' | 'warn'): OpPlan {
  const text = `kernel module ${name} is unavailable: ${why}`;
  if (policy === 'fail') throw new TaskError(text);
  ctx.warn(text);
  return { change: false, message: `unavailable: ${why}` };
}

/** Loads and/or persists in one command; `warn`: a module that will not load is a warning. */
function moduleCommand(name: string, load: boolean, persist: boolean, policy: 'fail' | 'warn'): OpCommand {
  const conf = modulesLoadPath(name);
  const script = [
    'set -e',
    // Load first: a module that cannot be loaded is not persisted.
    ...(load ? [`modprobe -- ${shQuote(name)}`] : []),
    ...(persist ? ['mkdir -p /etc/modules-load.d', atomicWriteScript(conf, { mode: '0644' })] : []),
  ].join('\n');
  return {
    script,
    ...(persist ? { stdin: `${name}\n` } : {}),
    what: `kernel module ${name}: ${load ? 'modprobe' : `writing ${conf}`}`,
    failure: { style: 'inline', lines: 5, ...(policy === 'warn' && load ? { warnOnly: true } : {}) },
  };
}
