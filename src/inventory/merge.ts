/**
 * Resolves a RawInventory into the Inventory every other layer sees: group membership,
 * merged vars with their origins, and each host's connection.
 *
 * Var precedence, lowest first (a later source wins):
 *   1. inventory-wide vars (our top-level `vars:`, Ansible's `all` vars / `[all:vars]`)
 *   2. group_vars/all
 *   3. the host's groups, parents before children (by depth below `all`, then inventory
 *      order); for each group: its inline vars, then its group_vars/<group> file(s)
 *   4. the host's inline vars (in the order they appear)
 *   5. host_vars/<host> file(s)
 * Objects deep-merge key by key; arrays and scalars (and Secrets) replace.
 * `origins` maps each top-level key to the source that set it last: a file, or
 * "FILE (group NAME)" for a group's inline vars.
 *
 * Connection, lowest first: built-in defaults (root, port 22, ~/.ssh/known_hosts, 10 s)
 * < the inventory's `connection:` < the host entry. In an Ansible inventory, the ansible_*
 * vars after merging (ansible_host, ansible_port, ansible_user,
 * ansible_ssh_private_key_file, ansible_become, ansible_connection, ansible_timeout) set it,
 * INI strings coerced; every ansible_* key is then removed from vars. The loader's options
 * (command-line flags) win over both for known_hosts and host key checking.
 */
import { displayPath, Problems } from './errors.ts';
import { resolvePath } from './paths.ts';
import { keyFileProblem } from './key-file.ts';
import { jumpFromSshArgs, parseJump } from './jump.ts';
import { isAddress } from '../core/net.ts';
import type { ConnectionOverrides, RawGroup, RawInventory, VarLayer, VarsFiles } from './raw.ts';
import type { Connection, Group, Host, Inventory, Vars } from './types.ts';

export interface BuildOptions {
  knownHosts?: string;
  acceptNewHostKeys?: boolean;
  insecureSkipHostKeyCheck?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Check every host's private key file (exists, readable, a key): for commands that will connect. */
  checkKeyFiles?: boolean;
}

export const CONNECTION_DEFAULTS = {
  user: 'root',
  port: 22,
  knownHosts: '~/.ssh/known_hosts',
  become: false,
  connectTimeoutMs: 10_000,
  transport: 'ssh',
} as const;

export function buildInventory(raw: RawInventory, files: VarsFiles, opts: BuildOptions = {}): Inventory {
  const problems = new Problems();
  const env = opts.env ?? process.env;
  const groups = new Map<string, RawGroup>(raw.groups.map((g) => [g.name, g]));
  checkCycles(raw, groups, problems);
  problems.throwIfAny();

  const depth = depths(raw.groups);
  const order = new Map(raw.groups.map((g, i) => [g.name, i]));
  const hostOrder = raw.hosts.map((h) => h.name);

  // Every host of a group, including those of its children.
  const members = new Map<string, Set<string>>();
  const membersOf = (name: string): Set<string> => {
    let set = members.get(name);
    if (set) return set;
    const g = groups.get(name)!;
    set = new Set(g.hosts);
    members.set(name, set);
    for (const c of g.children) for (const h of membersOf(c)) set.add(h);
    return set;
  };
  for (const g of raw.groups) membersOf(g.name);

  if (raw.flavor === 'ansible') {
    // Ansible's implicit group: hosts that belong to no group but `all`.
    const inSome = new Set<string>();
    for (const [name, set] of members) if (name !== 'ungrouped') for (const h of set) inSome.add(h);
    const ungrouped = groups.get('ungrouped') ?? { name: 'ungrouped', file: raw.file, hosts: [], children: [], layers: [] };
    ungrouped.hosts = hostOrder.filter((h) => !inSome.has(h));
    ungrouped.children = [];
    if (!groups.has('ungrouped')) {
      groups.set('ungrouped', ungrouped);
      order.set('ungrouped', raw.groups.length);
      depth.set('ungrouped', 1);
    }
    members.set('ungrouped', new Set(ungrouped.hosts));
  }

  const groupNames = [...groups.keys()].sort((a, b) => order.get(a)! - order.get(b)!);
  const allLayers: VarLayer[] = [...raw.globalLayers, ...(files.groups.get('all') ?? [])];

  const hosts = new Map<string, Host>();
  for (const rh of raw.hosts) {
    const memberOf = groupNames.filter((g) => members.get(g)!.has(rh.name));
    const byDepth = [...memberOf].sort((a, b) => depth.get(a)! - depth.get(b)! || order.get(a)! - order.get(b)!);
    const layers: VarLayer[] = [
      ...allLayers,
      ...byDepth.flatMap((g) => [...groups.get(g)!.layers, ...(files.groups.get(g) ?? [])]),
      ...rh.layers,
      ...(files.hosts.get(rh.name) ?? []),
    ];
    const { vars, origins, fieldOrigins } = mergeLayers(layers);
    let connection: Connection;
    if (raw.flavor === 'ansible') {
      const fromVars = ansibleConnection(rh.name, vars, origins, env, problems, !!opts.checkKeyFiles);
      connection = finishConnection(rh.name, { ...raw.connection, ...rh.connection, ...fromVars }, raw.baseDir, opts, env);
      for (const key of Object.keys(vars)) {
        if (key.startsWith('ansible_')) {
          delete vars[key];
          delete origins[key];
          for (const f of Object.keys(fieldOrigins)) if (f === key || f.startsWith(`${key}.`)) delete fieldOrigins[f];
        }
      }
    } else {
      connection = finishConnection(rh.name, { ...raw.connection, ...rh.connection }, raw.baseDir, opts, env);
      const key = connection.privateKey;
      const problem = opts.checkKeyFiles && key !== undefined ? keyFileProblem(key, env) : undefined;
      if (problem) {
        const own = rh.connection.privateKey !== undefined;
        problems.add({ file: own ? rh.file : raw.file, host: rh.name, field: own ? 'privateKey' : 'connection.privateKey', detail: problem });
      }
    }
    hosts.set(rh.name, { name: rh.name, connection, groups: ['all', ...memberOf], vars, origins, fieldOrigins });
  }
  problems.throwIfAny();

  const outGroups = new Map<string, Group>();
  // Ansible connection vars live on hosts' connections, not in any vars.
  const groupVars = (layers: VarLayer[]): Vars => {
    const { vars } = mergeLayers(layers);
    if (raw.flavor === 'ansible') for (const key of Object.keys(vars)) if (key.startsWith('ansible_')) delete vars[key];
    return vars;
  };
  outGroups.set('all', { name: 'all', hosts: hostOrder, children: topLevel(raw.groups, groupNames), vars: groupVars(allLayers) });
  for (const name of groupNames) {
    const g = groups.get(name)!;
    const set = members.get(name)!;
    const vars = groupVars([...g.layers, ...(files.groups.get(name) ?? [])]);
    outGroups.set(name, { name, hosts: hostOrder.filter((h) => set.has(h)), children: [...g.children], vars });
  }
  return { source: raw.source, hosts, groups: outGroups, flavor: raw.flavor };
}

export function mergeLayers(layers: VarLayer[]): { vars: Vars; origins: Record<string, string>; fieldOrigins: Record<string, string> } {
  const vars: Vars = {};
  const origins: Record<string, string> = {};
  const fieldOrigins: Record<string, string> = {};
  for (const layer of layers) {
    const origin = layer.inlineGroup ? `${displayPath(layer.file)} (group ${layer.inlineGroup})` : displayPath(layer.file);
    for (const [key, value] of Object.entries(layer.vars)) {
      vars[key] = key in vars ? deepMerge(vars[key], value) : clone(value);
      origins[key] = origin;
      recordFields(key, value, origin, fieldOrigins);
    }
  }
  return { vars, origins, fieldOrigins };
}

/** Each path a layer sets, down through mappings (a list or scalar is one field). */
function recordFields(path: string, value: unknown, origin: string, out: Record<string, string>): void {
  out[path] = origin;
  if (isPlain(value)) for (const [k, v] of Object.entries(value)) recordFields(`${path}.${k}`, v, origin, out);
}

/** Objects merge key by key; arrays, scalars and class instances (Secret) replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (isPlain(base) && isPlain(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : clone(v);
    return out;
  }
  return clone(over);
}

/** Each host gets its own copy of plain objects and arrays, so no host's vars alias another's. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (isPlain(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function checkCycles(raw: RawInventory, groups: Map<string, RawGroup>, problems: Problems): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        problems.add({ file: groups.get(name)?.file ?? raw.file, group: name, field: 'children', detail: `cycle: ${cycle.join(' -> ')}` });
      }
      return;
    }
    state.set(name, 'visiting');
    for (const c of groups.get(name)?.children ?? []) visit(c, [...path, name]);
    state.set(name, 'done');
  };
  for (const g of raw.groups) visit(g.name, []);
}

/** Depth below `all`: top-level groups are 1, a child is one deeper than its deepest parent. */
function depths(groups: RawGroup[]): Map<string, number> {
  const parents = new Map<string, string[]>();
  for (const g of groups) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), g.name]);
  const memo = new Map<string, number>();
  const depthOf = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const d = 1 + Math.max(0, ...(parents.get(name) ?? []).map(depthOf));
    memo.set(name, d);
    return d;
  };
  for (const g of groups) depthOf(g.name);
  return memo;
}

function topLevel(raw: RawGroup[], names: string[]): string[] {
  const isChild = new Set(raw.flatMap((g) => g.children));
  return names.filter((n) => !isChild.has(n));
}

function finishConnection(name: string, c: ConnectionOverrides, baseDir: string, opts: BuildOptions, env: NodeJS.ProcessEnv): Connection {
  const knownHosts = opts.knownHosts
    ? resolvePath(opts.knownHosts, process.cwd(), env)
    : resolvePath(c.knownHosts ?? CONNECTION_DEFAULTS.knownHosts, baseDir, env);
  return {
    address: c.address ?? name,
    port: c.port ?? CONNECTION_DEFAULTS.port,
    user: c.user ?? CONNECTION_DEFAULTS.user,
    ...(c.privateKey !== undefined ? { privateKey: c.privateKey } : {}),
    become: c.become ?? CONNECTION_DEFAULTS.become,
    knownHosts,
    acceptNewHostKeys: opts.acceptNewHostKeys ?? false,
    insecureSkipHostKeyCheck: opts.insecureSkipHostKeyCheck ?? false,
    connectTimeoutMs: c.connectTimeoutMs ?? CONNECTION_DEFAULTS.connectTimeoutMs,
    transport: c.transport ?? CONNECTION_DEFAULTS.transport,
    ...(c.proxyJump !== undefined ? { proxyJump: c.proxyJump } : {}),
  };
}

const TRUE_WORDS = ['true', 'yes', 'on', 'y', 't', '1'];
const FALSE_WORDS = ['false', 'no', 'off', 'n', 'f', '0'];

/**
 * Ansible connection vars -> our connection fields. INI values arrive as strings, so known
 * fields convert ('yes' -> true, '2222' -> 2222). Relative key paths resolve against the
 * working directory, as Ansible resolves them.
 */
function ansibleConnection(
  host: string,
  vars: Vars,
  origins: Record<string, string>,
  env: NodeJS.ProcessEnv,
  problems: Problems,
  checkKeyFile: boolean,
): ConnectionOverrides {
  const out: ConnectionOverrides = {};
  const pick = (...keys: string[]): [string, unknown] | undefined => {
    for (const k of keys) if (vars[k] !== undefined && vars[k] !== null) return [k, vars[k]];
    return undefined;
  };
  const bad = (key: string, expected: string, got: unknown) =>
    problems.add({ file: origins[key], host, field: key, detail: `expected ${expected}, got ${JSON.stringify(got) ?? String(got)}` });

  const address = pick('ansible_host', 'ansible_ssh_host');
  if (address) {
    if (typeof address[1] === 'string' && isAddress(address[1])) out.address = address[1];
    else bad(address[0], 'an IPv4/IPv6 address or a DNS host name', address[1]);
  }
  const port = pick('ansible_port', 'ansible_ssh_port');
  if (port) {
    const n = typeof port[1] === 'number' ? port[1] : typeof port[1] === 'string' && /^\d+$/.test(port[1].trim()) ? Number(port[1]) : NaN;
    if (Number.isInteger(n) && n >= 1 && n <= 65535) out.port = n;
    else bad(port[0], 'a port number', port[1]);
  }
  const user = pick('ansible_user', 'ansible_ssh_user');
  if (user) {
    if (typeof user[1] === 'string' && user[1] !== '') out.user = user[1];
    else bad(user[0], 'a user name', user[1]);
  }
  const key = pick('ansible_ssh_private_key_file', 'ansible_private_key_file');
  if (key) {
    if (typeof key[1] === 'string' && key[1] !== '') {
      out.privateKey = resolvePath(key[1], process.cwd(), env);
      const problem = checkKeyFile ? keyFileProblem(out.privateKey, env) : undefined;
      if (problem) problems.add({ file: origins[key[0]], host, field: key[0], detail: problem });
    } else bad(key[0], 'a file path', key[1]);
  }
  const become = pick('ansible_become');
  if (become) {
    const v = become[1];
    const word = typeof v === 'string' ? v.trim().toLowerCase() : typeof v === 'number' ? String(v) : undefined;
    if (typeof v === 'boolean') out.become = v;
    else if (word !== undefined && TRUE_WORDS.includes(word)) out.become = true;
    else if (word !== undefined && FALSE_WORDS.includes(word)) out.become = false;
    else bad(become[0], 'a boolean (true/false, yes/no, 1/0)', v);
  }
  const timeout = pick('ansible_timeout', 'ansible_ssh_timeout');
  if (timeout) {
    const n = typeof timeout[1] === 'number' ? timeout[1] : typeof timeout[1] === 'string' ? Number(timeout[1].trim()) : NaN;
    if (Number.isFinite(n) && n > 0) out.connectTimeoutMs = Math.round(n * 1000);
    else bad(timeout[0], 'a number of seconds', timeout[1]);
  }
  const sshArgs = pick('ansible_ssh_common_args');
  if (sshArgs) {
    // ansible-fields.ts refused anything but a lone ProxyJump in it.
    const jump = typeof sshArgs[1] === 'string' ? jumpFromSshArgs(sshArgs[1]) : undefined;
    const parsed = jump === undefined ? undefined : parseJump(jump);
    if (parsed) out.proxyJump = parsed;
    else bad(sshArgs[0], `-o ProxyJump=[user@]host[:port]`, sshArgs[1]);
  }
  const conn = pick('ansible_connection');
  if (conn) {
    const v = typeof conn[1] === 'string' ? conn[1].trim() : conn[1];
    if (v === 'local') out.transport = 'local';
    else if (v === 'ssh' || v === 'smart' || v === 'paramiko') out.transport = 'ssh';
    else bad(conn[0], 'ssh or local (rigger connects through SSH or runs locally)', conn[1]);
  }
  return out;
}
