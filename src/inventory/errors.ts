/**
 * Inventory errors speak the user's terms: the FILE, then the HOST or GROUP, then the FIELD
 * path, then what is wrong — `inventories/prod/hosts.yml: host pg2: port: expected number, got "x"`.
 * One error may carry several problems (all schema issues of a file at once), one per line.
 */
import { isAbsolute, relative } from 'node:path';

export interface InventoryProblem {
  /** File the problem is in (absolute or relative; shown relative to the working directory). */
  file?: string;
  host?: string;
  group?: string;
  /** Dotted var or field path, e.g. `port` or `vars.patroni.ttl`. */
  field?: string;
  detail: string;
}

export class InventoryError extends Error {
  readonly problems: InventoryProblem[];
  constructor(problems: InventoryProblem | InventoryProblem[]) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.map(formatProblem).join('\n'));
    this.name = 'InventoryError';
    this.problems = list;
  }
}

export function formatProblem(p: InventoryProblem): string {
  const parts: string[] = [];
  if (p.file) parts.push(displayPath(p.file));
  if (p.host) parts.push(`host ${p.host}`);
  if (p.group) parts.push(`group ${p.group}`);
  if (p.field) parts.push(p.field);
  parts.push(p.detail);
  return parts.join(': ');
}

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Collects problems across one stage so the user sees all of them in one run. */
export class Problems {
  readonly list: InventoryProblem[] = [];
  add(p: InventoryProblem): void {
    this.list.push(p);
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new InventoryError(this.list);
  }
}

/** `x` as it appeared in the input, short: `"30s"`, `12`, `null`, `a list`, `a mapping`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}
