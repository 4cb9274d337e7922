/**
 * Ansible inventories, so users can point rigger at what they already have: INI (`[group]`,
 * `[group:children]`, `[group:vars]`, host lines with key=value, ranges) and YAML (`all:` with
 * hosts/children/vars). Both yield the same RawInventory; ansible_* connection vars stay in
 * the vars here and are mapped to the connection after merging (merge.ts), since Ansible lets
 * any level (group_vars too) set them.
 */
import { Problems, describeValue } from './errors.ts';
import type { LoadContext } from './ours.ts';
import { expandHostRange } from './ranges.ts';
import { NAME_RE, type RawGroup, type RawHost, type RawInventory, type VarLayer } from './raw.ts';
import { resolveSecrets } from './secrets.ts';
import type { Vars } from './types.ts';

/** Ansible's own connection vars are mapped or dropped later, never wrapped or kept as vars. */
export const isAnsibleKey = (key: string): boolean => key.startsWith('ansible_');

/** Accumulates hosts and groups in the order they first appear. */
class Builder {
  readonly hosts = new Map<string, RawHost>();
  readonly groups = new Map<string, RawGroup>();
  readonly globalLayers: VarLayer[] = [];
  readonly problems = new Problems();
  constructor(readonly ctx: LoadContext) {}

  host(name: string, file: string): RawHost {
    let h = this.hosts.get(name);
    if (!h) {
      if (!NAME_RE.test(name)) this.problems.add({ file, host: name, detail: 'invalid host name (letters, digits, _ . - @; no pattern characters)' });
      h = { name, file, connection: {}, layers: [] };
      this.hosts.set(name, h);
    }
    return h;
  }

  /** `all` is implicit and never stored; its vars are the inventory-wide vars. */
  group(name: string, file: string): RawGroup | undefined {
    if (name === 'all') return undefined;
    let g = this.groups.get(name);
    if (!g) {
      if (!NAME_RE.test(name)) this.problems.add({ file, group: name, detail: 'invalid group name (letters, digits, _ . - @; no pattern characters)' });
      g = { name, file, hosts: [], children: [], layers: [] };
      this.groups.set(name, g);
    }
    return g;
  }

  member(group: string, host: string, file: string): void {
    this.host(host, file);
    const g = this.group(group, file);
    if (g && !g.hosts.includes(host)) g.hosts.push(host);
  }

  child(parent: string, child: string, file: string): void {
    const g = this.group(parent, file);
    this.group(child, file);
    if (g && child !== 'all' && !g.children.includes(child)) g.children.push(child);
  }

  hostVars(name: string, vars: Vars, file: string): void {
    if (Object.keys(vars).length === 0) return;
    const resolved = resolveSecrets(vars, { file, host: name, baseDir: this.ctx.baseDir, env: this.ctx.env, skipKey: isAnsibleKey }, this.problems);
    this.host(name, file).layers.push({ vars: resolved, file });
  }

  groupVars(name: string, vars: Vars, file: string): void {
    if (Object.keys(vars).length === 0) return;
    const resolved = resolveSecrets(
      vars,
      { file, ...(name === 'all' ? {} : { group: name }), baseDir: this.ctx.baseDir, env: this.ctx.env, skipKey: isAnsibleKey },
      this.problems,
    );
    const g = this.group(name, file);
    if (g) g.layers.push({ vars: resolved, file, inlineGroup: name });
    else this.globalLayers.push({ vars: resolved, file });
  }

  finish(file: string): RawInventory {
    this.problems.throwIfAny();
    return {
      flavor: 'ansible',
      source: this.ctx.source,
      file,
      baseDir: this.ctx.baseDir,
      connection: {},
      globalLayers: this.globalLayers,
      hosts: [...this.hosts.values()],
      groups: [...this.groups.values()],
    };
  }
}

// ---------------------------------------------------------------- INI

type Section = { kind: 'hosts' | 'vars' | 'children'; group: string };

export function fromAnsibleIni(text: string, file: string, ctx: LoadContext): RawInventory {
  const b = new Builder(ctx);
  let section: Section = { kind: 'hosts', group: 'ungrouped' };
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    const at = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const head = /^\[([^\]]+)\]\s*(?:[#;].*)?$/.exec(line);
    if (head) {
      const [name, kind, ...extra] = head[1]!.trim().split(':');
      if (extra.length || (kind !== undefined && kind !== 'vars' && kind !== 'children')) {
        b.problems.add({ file: at, detail: `invalid section [${head[1]}]: expected [group], [group:vars] or [group:children]` });
        return;
      }
      section = { kind: kind === undefined ? 'hosts' : kind, group: name!.trim() };
      b.group(section.group, at);
      return;
    }
    const words = splitWords(line);
    if (!Array.isArray(words)) {
      b.problems.add({ file: at, detail: words.error });
      return;
    }
    if (words.length === 0) return;
    if (section.kind === 'children') {
      if (words.length !== 1) b.problems.add({ file: at, group: section.group, field: 'children', detail: `expected one group name per line, got ${JSON.stringify(line)}` });
      else b.child(section.group, words[0]!, at);
      return;
    }
    if (section.kind === 'vars') {
      // Ansible: values in a :vars section are strings (known connection fields are coerced later).
      const eq = line.indexOf('=');
      if (eq <= 0) {
        b.problems.add({ file: at, group: section.group, detail: `expected key=value, got ${JSON.stringify(line)}` });
        return;
      }
      const key = line.slice(0, eq).trim();
      const value = unquote(line.slice(eq + 1).trim());
      b.groupVars(section.group, { [key]: value }, at);
      return;
    }
    hostLine(b, section.group, words, at);
  });
  return b.finish(file);
}

function hostLine(b: Builder, group: string, words: string[], at: string): void {
  const [target, ...assignments] = words as [string, ...string[]];
  const { name: pattern, port } = splitPort(target);
  const names = expandHostRange(pattern);
  if (!Array.isArray(names)) {
    b.problems.add({ file: at, host: pattern, detail: names.error });
    return;
  }
  const vars: Vars = {};
  if (port !== undefined) vars.ansible_port = port;
  for (const word of assignments) {
    const eq = word.indexOf('=');
    if (eq <= 0) {
      b.problems.add({ file: at, host: pattern, detail: `expected key=value, got ${describeValue(word)}` });
      return;
    }
    vars[word.slice(0, eq)] = hostLineValue(word.slice(eq + 1));
  }
  for (const name of names) {
    // `ungrouped` is computed after merging (hosts in no other group), as Ansible does.
    if (group === 'ungrouped' || group === 'all') b.host(name, at);
    else b.member(group, name, at);
    b.hostVars(name, vars, at);
  }
}

/** `pg1:2222` -> pg1 and port 2222; a colon inside [..] belongs to a range. */
function splitPort(word: string): { name: string; port?: number } {
  let depth = 0;
  for (let i = word.length - 1; i >= 0; i--) {
    const c = word[i];
    if (c === ']') depth++;
    else if (c === '[') depth--;
    else if (c === ':' && depth === 0) {
      const tail = word.slice(i + 1);
      return /^\d+$/.test(tail) ? { name: word.slice(0, i), port: Number(tail) } : { name: word };
    }
  }
  return { name: word };
}

/** Host-line values are Python literals in Ansible: numbers, True/False/None, quoted strings. */
function hostLineValue(text: string): unknown {
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^-?\d+\.\d+$/.test(text)) return Number(text);
  if (text === 'True') return true;
  if (text === 'False') return false;
  if (text === 'None') return null;
  if ((text.startsWith('[') && text.endsWith(']')) || (text.startsWith('{') && text.endsWith('}'))) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function unquote(s: string): string {
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.endsWith(s[0]) ? s.slice(1, -1) : s;
}

/** Splits a host line like a POSIX shell would (quotes group words, `#` starts a comment). */
function splitWords(line: string): string[] | { error: string } {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return { error: `unterminated ${quote} quote` };
  if (inWord) words.push(cur);
  return words;
}

// ---------------------------------------------------------------- YAML

const GROUP_KEYS = ['hosts', 'children', 'vars'];

/**
 * True when `data` is Ansible's YAML inventory (`all:` at the top, or groups each holding only
 * hosts/children/vars) rather than our form (connection/vars/hosts/groups at the top).
 */
export function looksLikeAnsibleYaml(data: unknown): boolean {
  if (!isMapping(data)) return false;
  const keys = Object.keys(data);
  if (keys.length === 0) return false;
  if ('all' in data) return true;
  if (keys.every((k) => OUR_TOP_KEYS.includes(k))) return false;
  return Object.values(data).every((v) => v === null || (isMapping(v) && Object.keys(v).every((k) => GROUP_KEYS.includes(k))));
}

const OUR_TOP_KEYS = ['connection', 'vars', 'hosts', 'groups'];

export function fromAnsibleYaml(data: unknown, file: string, ctx: LoadContext): RawInventory {
  const b = new Builder(ctx);
  if (!isMapping(data)) {
    b.problems.add({ file, detail: 'expected a mapping of groups (all: { hosts, children, vars })' });
    return b.finish(file);
  }
  for (const [name, node] of Object.entries(data)) walkGroup(b, name, node, file);
  return b.finish(file);
}

function walkGroup(b: Builder, name: string, node: unknown, file: string): void {
  b.group(name, file);
  if (node === null || node === undefined) return;
  if (!isMapping(node)) {
    b.problems.add({ file, group: name, detail: `expected a mapping with hosts, children, vars; got ${describeValue(node)}` });
    return;
  }
  for (const key of Object.keys(node)) {
    if (!GROUP_KEYS.includes(key)) b.problems.add({ file, group: name, field: key, detail: 'unknown key (expected hosts, children, vars)' });
  }
  const { hosts, children, vars } = node;
  if (vars !== undefined && vars !== null) {
    if (isMapping(vars)) b.groupVars(name, vars, file);
    else b.problems.add({ file, group: name, field: 'vars', detail: `expected a mapping, got ${describeValue(vars)}` });
  }
  if (hosts !== undefined && hosts !== null) {
    if (!isMapping(hosts)) {
      b.problems.add({ file, group: name, field: 'hosts', detail: `expected a mapping of host names, got ${describeValue(hosts)}` });
    } else {
      for (const [pattern, hostVars] of Object.entries(hosts)) {
        const names = expandHostRange(pattern);
        if (!Array.isArray(names)) {
          b.problems.add({ file, group: name, field: `hosts.${pattern}`, detail: names.error });
          continue;
        }
        if (hostVars !== null && !isMapping(hostVars)) {
          b.problems.add({ file, host: pattern, detail: `expected a mapping of vars, got ${describeValue(hostVars)}` });
          continue;
        }
        for (const h of names) {
          if (name === 'all') b.host(h, file);
          else b.member(name, h, file);
          if (hostVars) b.hostVars(h, hostVars, file);
        }
      }
    }
  }
  if (children !== undefined && children !== null) {
    if (!isMapping(children)) {
      b.problems.add({ file, group: name, field: 'children', detail: `expected a mapping of groups, got ${describeValue(children)}` });
    } else {
      for (const [child, childNode] of Object.entries(children)) {
        b.child(name, child, file);
        walkGroup(b, child, childNode, file);
      }
    }
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}
