/**
 * chrony.conf from the typed vars. Plain `directive args` lines, one per setting, in the
 * order of Debian's stock file so a diff against it stays readable.
 */
import type { ChronyPool, ChronySource, ChronyVars } from './vars.ts';

const HEADER = '# Managed by rigger (role chrony). Local changes are overwritten; use conf.d for additions.';

function sourceOptions(s: ChronySource): string[] {
  const opts: string[] = [];
  if (s.iburst) opts.push('iburst');
  if (s.prefer) opts.push('prefer');
  if (s.minpoll !== undefined) opts.push(`minpoll ${s.minpoll}`);
  if (s.maxpoll !== undefined) opts.push(`maxpoll ${s.maxpoll}`);
  return opts;
}

function sourceLine(kind: 'server' | 'pool', s: ChronySource | ChronyPool): string {
  const opts = sourceOptions(s);
  if (kind === 'pool' && 'maxsources' in s && s.maxsources !== undefined) opts.push(`maxsources ${s.maxsources}`);
  return [kind, s.host, ...opts].join(' ');
}

export function renderChronyConf(v: ChronyVars): string {
  if (v.servers.length === 0 && v.pools.length === 0) {
    throw new Error('chrony: no time source: set chrony.servers or chrony.pools');
  }
  const lines: string[] = [HEADER, ''];
  lines.push(`confdir ${v.confdir}`);
  for (const s of v.servers) lines.push(sourceLine('server', s));
  for (const p of v.pools) lines.push(sourceLine('pool', p));
  for (const d of v.sourcedirs) lines.push(`sourcedir ${d}`);
  lines.push(`keyfile ${v.keyfile}`);
  lines.push(`driftfile ${v.driftfile}`);
  lines.push(`ntsdumpdir ${v.ntsdumpdir}`);
  lines.push(`logdir ${v.logdir}`);
  lines.push(`maxupdateskew ${v.maxupdateskew}`);
  if (v.rtcsync) lines.push('rtcsync');
  lines.push(`makestep ${v.makestep.threshold} ${v.makestep.limit}`);
  for (const a of v.allow) lines.push(`allow ${a}`);
  if (v.leapsectz) lines.push(`leapsectz ${v.leapsectz}`);
  return lines.join('\n') + '\n';
}
