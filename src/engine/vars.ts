/**
 * Role vars for one host: schema defaults < the playbook's `role.with()` < the inventory's
 * `host.vars[role.name]`. Validated before any connection; errors name file, host and field,
 * with "did you mean" for a mistyped key. Also: which top-level var keys an inventory may
 * hold (role names, a few known ones, the `x_` user namespace).
 */
import type { z } from 'zod';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Role } from './role.ts';
import { deepMerge } from '../core/merge.ts';
import { closeNames, didYouMean } from '../inventory/suggest.ts';

/** One problem in one host's vars, before it is grouped with the same problem on other hosts. */
export interface VarsIssue {
  /** The file (or `FILE (group NAME)`, or `--extra-vars`) that set the field. */
  file: string;
  host: string;
  /** Dotted path from the top of the host's vars: `patroni.dcs.ttl`. */
  field: string;
  detail: string;
}

export type VarsResult = { ok: true; vars: unknown } | { ok: false; problems: string[]; issues: VarsIssue[] };

export function resolveRoleVars(role: Role, host: Host, inventory: Inventory): VarsResult {
  const fromInventory = host.vars[role.name];
  const raw = deepMerge(deepMerge({}, role.overrides), fromInventory ?? {});
  const parsed = (role.vars as z.ZodType).safeParse(raw);
  if (parsed.success) return { ok: true, vars: parsed.data };
  const issues: VarsIssue[] = [];
  for (const issue of parsed.error.issues) {
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(role.vars as z.ZodType, path);
      for (const key of issue.keys) {
        const field = joinPath([role.name, ...path, key]);
        const hint = didYouMean(key, known) || movedHint(role, path, key, known);
        issues.push({ file: fieldOrigin(host, field, inventory), host: host.name, field, detail: `unknown key${hint}` });
      }
      continue;
    }
    // A record's key: the key's own issue says what is wrong with it.
    const inner = issue.code === 'invalid_key' ? issue.issues[0] : undefined;
    const field = joinPath([role.name, ...path]);
    issues.push({ file: fieldOrigin(host, field, inventory), host: host.name, field, detail: inner?.message ?? issue.message });
  }
  return { ok: false, problems: issues.map((i) => formatVarsIssue(i)), issues };
}

/** A key put one level too high (`patroni.ttl`): ` (it belongs under dcs: patroni.dcs.ttl)`. */
function movedHint(role: Role, path: ReadonlyArray<string | number>, key: string, siblings: string[]): string {
  const homes: Array<[string, string]> = [];
  for (const s of siblings) {
    const children = keysAt(role.vars as z.ZodType, [...path, s]);
    const match = children.includes(key) ? key : closeNames(key, children, 1)[0];
    if (match !== undefined) homes.push([s, match]);
  }
  if (homes.length !== 1) return '';
  const [home, name] = homes[0]!;
  return ` (it belongs under ${home}: ${joinPath([role.name, ...path, home, name])})`;
}

/** `FILE: host H: FIELD: DETAIL`, or `FILE: hosts A, B, C: FIELD: DETAIL` for one mistake on many hosts. */
export function formatVarsIssue(i: Omit<VarsIssue, 'host'>, hosts: string[] = [(i as VarsIssue).host]): string {
  const who = hosts.length === 1 ? `host ${hosts[0]}` : `hosts ${hosts.join(', ')}`;
  return `${i.file}: ${who}: ${i.field ? `${i.field}: ` : ''}${i.detail}`;
}

/**
 * The same mistake (same file, field and detail) reported on several hosts becomes one line
 * listing the hosts, in the order they were first seen.
 */
export function groupVarsIssues(issues: VarsIssue[]): string[] {
  const groups = new Map<string, { issue: VarsIssue; hosts: string[] }>();
  for (const i of issues) {
    const key = JSON.stringify([i.file, i.field, i.detail]);
    const g = groups.get(key);
    if (!g) groups.set(key, { issue: i, hosts: [i.host] });
    else if (!g.hosts.includes(i.host)) g.hosts.push(i.host);
  }
  return [...groups.values()].map((g) => formatVarsIssue(g.issue, g.hosts));
}

/**
 * Where a field came from: the file that set that field (or its nearest parent) last. When
 * --extra-vars touched the top-level key, the top-level origin names both places.
 */
export function fieldOrigin(host: Host, field: string, inventory: Inventory): string {
  const top = field.split(/[.[]/)[0]!;
  const topOrigin = host.origins[top];
  if (topOrigin?.includes('--extra-vars') || !host.fieldOrigins) return topOrigin ?? inventory.source;
  for (let f = field; f; f = parentField(f)) {
    const o = host.fieldOrigins[f];
    if (o !== undefined) return o;
  }
  return topOrigin ?? inventory.source;
}

/** `a.b[2]` -> `a.b` -> `a` -> ''. */
function parentField(f: string): string {
  const m = /^(.*?)(\.[^.[\]]+|\[\d+\])$/.exec(f);
  return m ? m[1]! : '';
}

function joinPath(path: ReadonlyArray<string | number>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

/** The keys an object schema accepts at `path` (through defaults, optionals, arrays, records). */
export function keysAt(schema: z.ZodType, path: ReadonlyArray<string | number>): string[] {
  let cur: z.ZodType | undefined = unwrap(schema);
  for (const p of path) {
    if (!cur) return [];
    const def = (cur as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    if (def.type === 'object') cur = unwrap((def.shape as Record<string, z.ZodType>)[String(p)]);
    else if (def.type === 'array') cur = unwrap(def.element as z.ZodType);
    else if (def.type === 'record') cur = unwrap(def.valueType as z.ZodType);
    else return [];
  }
  if (!cur) return [];
  const def = (cur as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
  return def.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let s = schema;
  for (let i = 0; s && i < 20; i++) {
    const def = (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    if (['default', 'prefault', 'optional', 'nullable', 'catch', 'readonly', 'nonoptional'].includes(def.type)) s = def.innerType as z.ZodType;
    else if (def.type === 'pipe') s = ((def.in as z.ZodType)._zod.def.type === 'transform' ? def.out : def.in) as z.ZodType;
    else return s;
  }
  return s;
}

// ---- top-level keys ----

/**
 * Every role in roles/ (a unit test keeps this list equal to roles/*\/index.ts) and the
 * day-2 playbooks' `rollout` vars: a top-level key any playbook of this repository reads.
 */
export const KNOWN_ROLE_NAMES = ['chrony', 'etcd', 'haproxy', 'keepalived', 'patroni', 'pgbackrest', 'postgres', 'softdog', 'rollout'] as const;

/** Top-level keys that are not roles' vars: `lab` is written by `npm run lab` (instance, subnet). */
export const OTHER_KNOWN_KEYS = ['lab'] as const;

/** The user namespace: top-level keys starting with this are never checked (`x_site: lab`). */
export const USER_PREFIX = 'x_';

/**
 * Top-level var keys no role reads. In our inventory form an unknown key is an error; an
 * Ansible inventory also carries vars of Ansible's own roles, so there only a key close to a
 * known one (`patrony`) is. Reported once per key and file, listing the hosts.
 */
export function unknownTopLevelKeys(inv: Inventory, roleNames: Iterable<string>): VarsIssue[] {
  const known = new Set<string>([...KNOWN_ROLE_NAMES, ...OTHER_KNOWN_KEYS, ...roleNames]);
  const issues: VarsIssue[] = [];
  for (const host of inv.hosts.values()) {
    for (const key of Object.keys(host.vars)) {
      if (known.has(key) || key.startsWith(USER_PREFIX)) continue;
      const close = closeNames(key, known);
      if (inv.flavor === 'ansible' && close.length === 0) continue;
      const hint = close.length ? ` (did you mean ${close.map((c) => JSON.stringify(c)).join(' or ')}?)` : '';
      issues.push({
        file: host.origins[key] ?? inv.source,
        host: host.name,
        field: key,
        detail: `unknown key${hint}: top-level vars are a role's name (${[...known].filter((k) => k !== 'lab').sort().join(', ')}) or start with ${USER_PREFIX} (your own)`,
      });
    }
  }
  return issues;
}
