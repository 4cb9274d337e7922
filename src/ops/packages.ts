/**
 * packages: Debian packages through dpkg/apt. The probe reads dpkg's status (and for
 * `latest` the apt candidate); everything to install goes in ONE apt-get call, preceded by
 * `apt-get update` only when the lists are stale (> 1 h) or a package has no candidate.
 */
import { z } from 'zod';
import { shQuote } from '../transport/types.ts';
import { TaskError, type OpCommand, type OpFailure, type OpPlan, type OpTask } from '../engine/types.ts';
import { runOpCommands } from '../engine/op-commands.ts';
import { aptLockPrelude } from './apt-lock.ts';
import { parseSpec, taskBase, type OpCommon } from './common.ts';

const PackageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?$/, 'expected a Debian package name');
const PackageVersion = z.string().regex(/^[A-Za-z0-9.+~:*-]+$/, 'expected a Debian version (a trailing * matches a prefix)');

const PackagesSpec = z.object({
  names: z.array(PackageName).min(1, 'give at least one package'),
  state: z.enum(['present', 'latest', 'absent']).default('present'),
  versions: z.record(PackageName, PackageVersion).default({}),
  updateCache: z.boolean().default(true),
});
export type PackagesOptions = OpCommon & z.input<typeof PackagesSpec>;

const APT_OPTS = '-q -o DPkg::Lock::Timeout=120';
const LISTS_MAX_AGE_MIN = 60;
/** apt's failures read with the last 15 lines (its errors come after long progress output). */
const APT_FAILURE: OpFailure = { style: 'tail', lines: 15 };
/**
 * No deadline on apt itself: a deadline runs the script under `timeout -s KILL` on the host, and
 * dpkg killed mid-unpack leaves packages half-configured. Its waits are bounded inside: every
 * apt/dpkg lock (rigger_apt, apt-lock.ts; DPkg::Lock::Timeout) and the mirror (Acquire
 * timeouts, apt's defaults).
 */
const LOCKED = `${aptLockPrelude()}\n`;

/** Prints `@@dpkg-interrupted` when an earlier dpkg run was cut short (what `dpkg --configure -a` finishes). */
const INTERRUPTED_PROBE = `if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || [ -n "$(dpkg --audit 2>/dev/null)" ]; then echo '@@dpkg-interrupted'; fi`;
const FINISH_DPKG: OpCommand = { script: `${LOCKED}export DEBIAN_FRONTEND=noninteractive\nrigger_apt dpkg --configure -a --force-confdef --force-confold`, what: 'dpkg --configure -a', failure: APT_FAILURE };

/** Prints `stale=yes|no`: no fresh package lists (update stamps older than an hour, or none at all). */
const STALE_PROBE = [
  `if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && [ -n "$(find /var/cache/apt/pkgcache.bin /var/lib/apt/lists /var/lib/apt/periodic/update-success-stamp -maxdepth 0 -mmin -${LISTS_MAX_AGE_MIN} 2>/dev/null | head -n 1)" ]`,
  'then echo stale=no; else echo stale=yes; fi',
].join('\n');

export interface DpkgEntry {
  installed: boolean;
  version: string;
}

/** Parses `Package\tStatus\tVersion` lines; a package listed for several archs counts as installed if any is. */
export function parseDpkg(stdout: string): Map<string, DpkgEntry> {
  const out = new Map<string, DpkgEntry>();
  for (const line of stdout.split('\n')) {
    const [pkg, status, version] = line.split('\t');
    if (!pkg || status === undefined) continue;
    const installed = status.trim().split(/\s+/)[2] === 'installed';
    if (!out.get(pkg)?.installed) out.set(pkg, { installed, version: installed ? (version ?? '') : '' });
  }
  return out;
}

/** Candidate version per package from `apt-cache policy` ('' when none). */
export function parsePolicy(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) {
      current = head[1]!;
      out.set(current, '');
      continue;
    }
    const cand = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (cand && current !== undefined) out.set(current, cand[1] === '(none)' ? '' : cand[1]!);
  }
  return out;
}

function baseName(name: string): string {
  return name.split(':')[0]!;
}

/** Exact version, or a prefix when the pin ends with `*` (as apt-get accepts it). */
export function versionMatches(installed: string, pin: string): boolean {
  return pin.endsWith('*') ? installed.startsWith(pin.slice(0, -1)) : installed === pin;
}

export function packages(o: PackagesOptions): OpTask {
  const spec = parseSpec('packages', PackagesSpec, o);
  const names = [...new Set(spec.names)];
  const quoted = names.map(shQuote).join(' ');
  const latest = spec.state === 'latest';
  const suffix = spec.state === 'present' ? '' : ` (${spec.state})`;

  const probe = [
    `command -v dpkg-query >/dev/null 2>&1 || { echo '@@no-dpkg'; exit 0; }`,
    INTERRUPTED_PROBE,
    `dpkg-query -W -f='\${Package}\\t\${Status}\\t\${Version}\\n' ${names.map((n) => shQuote(baseName(n))).join(' ')}`,
    ...(latest ? [STALE_PROBE, `echo '@@policy'`, `LC_ALL=C apt-cache policy ${quoted}`] : []),
    'true',
  ].join('\n');

  return {
    kind: 'op',
    ...taskBase(o, `packages: ${names.join(', ')}${suffix}`),
    probe,
    async plan(p, ctx): Promise<OpPlan> {
      const pm = ctx.facts.packageManager;
      if (pm !== 'apt' || p.stdout.includes('@@no-dpkg')) {
        throw new TaskError(`packages: only apt (Debian/Ubuntu) is supported; ${ctx.host.name} uses ${pm === 'apt' ? 'apt without dpkg-query' : pm}`);
      }
      const [dpkgOut, policyOut = ''] = p.stdout.split('@@policy\n');
      // An interrupted dpkg is finished first, whatever else this step does, and reported.
      const finish = /^@@dpkg-interrupted$/m.test(dpkgOut ?? '') ? { commands: [FINISH_DPKG], note: 'finish an interrupted dpkg run (dpkg --configure -a)' } : null;
      const withFinish = (plan: { change: false } | { change: true; summary: string; commands: OpCommand[] }): OpPlan =>
        !finish ? plan : plan.change ? { ...plan, summary: `${finish.note}; ${plan.summary}`, commands: [...finish.commands, ...plan.commands] } : { change: true, summary: finish.note, commands: finish.commands };
      const dpkg = parseDpkg(dpkgOut ?? '');
      const isInstalled = (n: string) => dpkg.get(baseName(n))?.installed ?? false;
      const versionOf = (n: string) => dpkg.get(baseName(n))?.version ?? '';

      if (spec.state === 'absent') {
        const remove = names.filter(isInstalled);
        if (remove.length === 0) return withFinish({ change: false });
        return withFinish({
          change: true,
          summary: `remove ${remove.join(', ')}`,
          commands: [{ script: removeScript(remove), what: `apt-get remove ${remove.join(' ')}`, failure: APT_FAILURE }],
        });
      }

      let candidates = parsePolicy(policyOut);
      if (latest && spec.updateCache && !ctx.check && /^stale=yes$/m.test(dpkgOut ?? '')) {
        // `latest` means the newest the mirror has: stale lists would hide it.
        // Runs while planning (not in check mode): the candidates it brings decide the change.
        await runOpCommands(ctx, [{ script: `${LOCKED}export DEBIAN_FRONTEND=noninteractive\nrigger_apt apt-get ${APT_OPTS} update`, what: 'apt-get update', failure: APT_FAILURE }]);
        ctx.log('apt lists were older than 1 h: refreshed them (apt-get update)');
        candidates = parsePolicy(await ctx.run(`LC_ALL=C apt-cache policy ${quoted}`));
      }

      const install: string[] = [];
      const notes: string[] = [];
      let pinned = false;
      for (const n of names) {
        const pin = spec.versions[n] ?? spec.versions[baseName(n)];
        const have = versionOf(n);
        if (pin !== undefined) {
          if (isInstalled(n) && versionMatches(have, pin)) continue;
          pinned = true;
          install.push(`${n}=${pin}`);
          notes.push(isInstalled(n) ? `${n} ${have} -> ${pin}` : `${n}=${pin}`);
        } else if (!isInstalled(n)) {
          install.push(n);
          notes.push(n);
        } else if (latest) {
          const cand = candidates.get(n) ?? candidates.get(baseName(n)) ?? '';
          if (cand && cand !== have) {
            install.push(n);
            notes.push(`${n} ${have} -> ${cand}`);
          }
        }
      }
      if (install.length === 0) return withFinish({ change: false });
      return withFinish({
        change: true,
        summary: `install ${notes.join(', ')}`,
        commands: [installCommand(install, pinned, spec.updateCache)],
      });
    },
  };
}

function removeScript(names: string[]): string {
  return `${LOCKED}export DEBIAN_FRONTEND=noninteractive\nrigger_apt apt-get ${APT_OPTS} -y remove ${names.map(shQuote).join(' ')}`;
}

/** The install script: refresh lists only when needed, then one apt-get install. */
export function installScript(install: string[], pinned: boolean, updateCache: boolean): string {
  const names = install.map((n) => n.split('=')[0]!);
  const lines = ['set -e', 'export DEBIAN_FRONTEND=noninteractive', aptLockPrelude()];
  if (updateCache) {
    lines.push(
      STALE_PROBE.replace('echo stale=no; else echo stale=yes;', 'update=0; else update=1;'),
      `for p in ${names.map(shQuote).join(' ')}; do`,
      `  c=$(LC_ALL=C apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')`,
      `  case "$c" in ''|'(none)') update=1 ;; esac`,
      'done',
      `if [ "$update" = 1 ]; then rigger_apt apt-get ${APT_OPTS} update >&2; fi`,
    );
  }
  lines.push(
    `rigger_apt apt-get ${APT_OPTS} -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold${pinned ? ' --allow-downgrades' : ''} install ${install.map(shQuote).join(' ')}`,
  );
  return lines.join('\n');
}

function installCommand(install: string[], pinned: boolean, updateCache: boolean): OpCommand {
  return { script: installScript(install, pinned, updateCache), what: `apt-get install ${install.join(' ')}`, failure: APT_FAILURE };
}
