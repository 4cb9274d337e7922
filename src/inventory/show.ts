/**
 * `rigger inventory -i X`: hosts with their connection, groups, and resolved vars (each
 * top-level var with the source that set it). Secrets show as ********, never their value; a
 * secret whose environment variable is unset (loaded under allowUnsetEnv) shows as unset.
 */
import { stringify } from 'yaml';
import { MASK, isSecret, redact } from '../core/secret.ts';
import { selectHosts } from './pattern.ts';
import { unsetEnvOf } from './secret-refs.ts';
import type { Connection, Host, Inventory } from './types.ts';

export interface RenderOptions {
  json: boolean;
  limit?: string;
}

export function renderInventory(inv: Inventory, opts: RenderOptions): string {
  const hosts = selectHosts(inv, 'all', opts.limit);
  const shown = new Set(hosts.map((h) => h.name));
  const groups = [...inv.groups.values()]
    .map((g) => ({ ...g, hosts: g.hosts.filter((h) => shown.has(h)) }))
    .filter((g) => opts.limit === undefined || g.hosts.length > 0);
  // redact() as a last guard: a secret that reached a var unwrapped would still be masked.
  if (opts.json) {
    const data = {
      source: inv.source,
      hosts: hosts.map((h) => ({ name: h.name, connection: h.connection, groups: h.groups, vars: masked(h.vars), origins: h.origins })),
      groups: groups.map((g) => ({ name: g.name, hosts: g.hosts, children: g.children, vars: masked(g.vars) })),
    };
    return redact(JSON.stringify(data, null, 2));
  }
  const lines: string[] = [`inventory ${inv.source}: ${hosts.length} host${hosts.length === 1 ? '' : 's'}, ${groups.length} groups`, ''];
  lines.push('hosts:');
  for (const h of hosts) lines.push(...renderHost(h));
  lines.push('', 'groups:');
  for (const g of groups) {
    const children = g.children.length ? `  (children: ${g.children.join(', ')})` : '';
    lines.push(`  ${g.name}: ${g.hosts.join(', ') || '-'}${children}`);
  }
  return redact(lines.join('\n'));
}

function renderHost(h: Host): string[] {
  const out = [`  ${h.name}  ${describeConnection(h.connection)}`, `    groups: ${h.groups.join(', ')}`];
  const keys = Object.keys(h.vars);
  if (keys.length === 0) return [...out, '    vars: {}'];
  out.push('    vars:');
  for (const key of keys) {
    const text = stringify({ [key]: masked(h.vars[key]) }, { lineWidth: 0 }).trimEnd().split('\n');
    const origin = h.origins[key];
    text.forEach((line, i) => out.push(`      ${line}${i === 0 && origin ? `    # ${origin}` : ''}`));
  }
  return out;
}

function describeConnection(c: Connection): string {
  if (c.transport === 'local') return 'local';
  const parts = [`ssh ${c.user}@${c.address}:${c.port}`];
  if (c.proxyJump) parts.push(`via ${c.proxyJump.user ? `${c.proxyJump.user}@` : ''}${c.proxyJump.address}:${c.proxyJump.port}`);
  if (c.become) parts.push('become');
  if (c.privateKey) parts.push(`key ${c.privateKey}`);
  parts.push(`known_hosts ${c.knownHosts}`);
  if (c.acceptNewHostKeys) parts.push('accept-new-host-keys');
  if (c.insecureSkipHostKeyCheck) parts.push('HOST KEY CHECK OFF');
  parts.push(`timeout ${c.connectTimeoutMs / 1000}s`);
  return parts.join(', ');
}

/** A printable copy: Secrets become the mask, other class instances their string form. */
function masked(v: unknown): unknown {
  if (isSecret(v)) {
    const unset = unsetEnvOf(v);
    return unset === undefined ? MASK : `(unset: environment variable ${unset})`;
  }
  if (Array.isArray(v)) return v.map(masked);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null) {
    if (Object.getPrototypeOf(v) !== Object.prototype) return String(v);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x)]));
  }
  return v;
}
