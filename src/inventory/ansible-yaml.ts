/**
 * Ansible YAML inventories: groups at the top (usually `all:`), each with hosts (host ->
 * vars), children (nested groups) and vars.
 */
import { describeValue } from './errors.ts';
import { AnsibleBuilder } from './ansible-builder.ts';
import type { LoadContext } from './ours.ts';
import { expandHostRange } from './ranges.ts';
import type { RawInventory } from './raw.ts';

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
  const b = new AnsibleBuilder(ctx);
  if (!isMapping(data)) {
    b.problems.add({ file, detail: 'expected a mapping of groups (all: { hosts, children, vars })' });
    return b.finish(file);
  }
  for (const [name, node] of Object.entries(data)) walkGroup(b, name, node, file);
  return b.finish(file);
}

function walkGroup(b: AnsibleBuilder, name: string, node: unknown, file: string): void {
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
