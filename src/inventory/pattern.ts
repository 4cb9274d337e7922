/**
 * Host patterns, as in Ansible: `a:b` or `a,b` union, `a:&b` intersection, `a:!b`
 * exclusion, `all` / `*`, host or group names, globs (`pg*`, `db?`, `pg[12]`) and regexes
 * (`~pg[0-9]+`). Like Ansible, unions apply first, then intersections, then exclusions,
 * whatever their position; a pattern of only `&`/`!` terms starts from `all`.
 * `--limit` uses the same syntax and intersects. Results are in inventory order.
 */
import { InventoryError } from './errors.ts';
import { didYouMean } from './suggest.ts';
import type { Host, Inventory } from './types.ts';

export function selectHosts(inv: Inventory, pattern: string, limit?: string): Host[] {
  let names = evaluate(inv, pattern, 'hosts pattern');
  if (limit !== undefined && limit.trim() !== '') {
    const limited = evaluate(inv, limit, '--limit');
    names = new Set([...names].filter((n) => limited.has(n)));
  }
  return [...inv.hosts.values()].filter((h) => names.has(h.name));
}

type Term = { op: 'union' | 'and' | 'not'; text: string };

function evaluate(inv: Inventory, pattern: string, label: string): Set<string> {
  const terms = splitPattern(pattern);
  if (terms.length === 0) throw new InventoryError({ detail: `${label} ${JSON.stringify(pattern)}: empty pattern` });
  const unions = terms.filter((t) => t.op === 'union');
  let result = new Set<string>();
  for (const t of unions.length ? unions : [{ op: 'union', text: 'all' } as Term]) for (const h of match(inv, t.text, pattern, label)) result.add(h);
  for (const t of terms.filter((x) => x.op === 'and')) {
    const keep = match(inv, t.text, pattern, label);
    result = new Set([...result].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((x) => x.op === 'not')) for (const h of match(inv, t.text, pattern, label)) result.delete(h);
  return result;
}

/** Splits on `,` and `:` outside brackets (a colon inside [..] is part of a glob or range). */
function splitPattern(pattern: string): Term[] {
  const parts: string[] = [];
  let cur = '';
  let depth = 0;
  for (const c of pattern) {
    if (c === '[') depth++;
    if (c === ']') depth = Math.max(0, depth - 1);
    if ((c === ',' || c === ':') && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p): Term => (p.startsWith('&') ? { op: 'and', text: p.slice(1).trim() } : p.startsWith('!') ? { op: 'not', text: p.slice(1).trim() } : { op: 'union', text: p }));
}

function match(inv: Inventory, term: string, pattern: string, label: string): Set<string> {
  if (term === 'all' || term === '*') return new Set(inv.hosts.keys());
  const group = inv.groups.get(term);
  if (group) return new Set(group.hosts);
  if (inv.hosts.has(term)) return new Set([term]);

  let re: RegExp | undefined;
  if (term.startsWith('~')) {
    try {
      re = new RegExp(`^(?:${term.slice(1)})`);
    } catch (e) {
      throw new InventoryError({ detail: `${label} ${JSON.stringify(pattern)}: invalid regex ${JSON.stringify(term)}: ${(e as Error).message}` });
    }
  } else if (/[*?[]/.test(term)) {
    re = globToRegExp(term);
  }
  if (re) {
    const out = new Set<string>();
    for (const g of inv.groups.values()) if (re.test(g.name)) for (const h of g.hosts) out.add(h);
    for (const h of inv.hosts.keys()) if (re.test(h)) out.add(h);
    if (out.size === 0) throw new InventoryError({ detail: `${label} ${JSON.stringify(pattern)}: ${JSON.stringify(term)} matches no group or host` });
    return out;
  }
  const names = [...inv.groups.keys(), ...inv.hosts.keys()];
  throw new InventoryError({
    detail: `${label} ${JSON.stringify(pattern)}: unknown group or host ${JSON.stringify(term)}${didYouMean(term, names)}`,
  });
}

/** fnmatch-style: `*` any run, `?` one character, `[abc]` / `[!abc]` a class. */
function globToRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) {
        src += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      src += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else src += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${src}$`);
}
