/**
 * Ansible INI inventories: `[group]`, `[group:children]`, `[group:vars]`, host lines with
 * key=value vars (Python-literal typed, as Ansible does), `host:port`, ranges like pg[1:3].
 * Hosts before any section are ungrouped.
 */
import { describeValue } from './errors.ts';
import { AnsibleBuilder } from './ansible-builder.ts';
import type { LoadContext } from './ours.ts';
import { expandHostRange } from './ranges.ts';
import type { RawInventory } from './raw.ts';
import type { Vars } from './types.ts';

type Section = { kind: 'hosts' | 'vars' | 'children'; group: string };

export function fromAnsibleIni(text: string, file: string, ctx: LoadContext): RawInventory {
  const b = new AnsibleBuilder(ctx);
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

function hostLine(b: AnsibleBuilder, group: string, words: string[], at: string): void {
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
