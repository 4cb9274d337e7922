/**
 * /etc/default/etcd as a typed object, and its text. Debian's etcd.service reads the file as
 * a systemd EnvironmentFile (KEY=value lines), so no shell quoting rules apply, only systemd's.
 */
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { hostsOf, httpUrl, varsOf } from '../../src/toolkit/index.ts';
import { EtcdVarsSchema, type EtcdVars } from './vars.ts';

export { httpUrl };

export const ENV_FILE = '/etc/default/etcd';
export const HEADER = '# Managed by rigger (role etcd). Local edits are overwritten on the next run.';

export interface EtcdMember {
  name: string;
  peerUrl: string;
}

export interface EtcdEnv {
  name: string;
  dataDir: string;
  listenPeerUrls: string[];
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: EtcdMember[];
  /** `new` when the members bootstrap together; `existing` for a member joining a running cluster. */
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  /** More ETCD_* settings, rendered after the managed keys in key order. */
  extra: Record<string, string>;
}

/** Keys only read when a member starts with an empty data dir: changing them needs no restart. */
export const BOOTSTRAP_KEYS = new Set(['ETCD_INITIAL_CLUSTER', 'ETCD_INITIAL_CLUSTER_STATE', 'ETCD_INITIAL_CLUSTER_TOKEN']);

/** The etcd vars of any host of the inventory, validated (a problem names file, host and field). */
export function etcdVarsOf(host: Host, inventory: Inventory): EtcdVars {
  return varsOf({ name: 'etcd', vars: EtcdVarsSchema }, host, inventory);
}

export function memberAddress(host: Host, vars: EtcdVars): string {
  return vars.address ?? host.connection.address;
}

/** The hosts of the etcd group in inventory order; an empty or missing group is an input error. */
export function etcdHosts(inventory: Inventory, group: string): Host[] {
  return hostsOf(inventory, group, { varName: 'the etcd members', nonEmpty: true });
}

/** Where each member's clients connect (address and client port), in inventory order. */
export function clientEndpoints(inventory: Inventory, group: string): Array<{ address: string; port: number }> {
  return etcdHosts(inventory, group).map((h) => {
    const v = etcdVarsOf(h, inventory);
    return { address: memberAddress(h, v), port: v.clientPort };
  });
}

/** Members of the cluster as the inventory describes it (name = inventory host name). */
export function inventoryMembers(inventory: Inventory, group: string): EtcdMember[] {
  return etcdHosts(inventory, group).map((h) => {
    const v = etcdVarsOf(h, inventory);
    return { name: h.name, peerUrl: httpUrl(memberAddress(h, v), v.peerPort) };
  });
}

/** Client URLs of every member (what etcdctl --endpoints and Patroni need). */
export function clientUrls(inventory: Inventory, group: string): string[] {
  return clientEndpoints(inventory, group).map((e) => httpUrl(e.address, e.port));
}

export function etcdEnvFor(vars: EtcdVars, host: Host, inventory: Inventory, state: 'new' | 'existing'): EtcdEnv {
  const addr = memberAddress(host, vars);
  const members = inventoryMembers(inventory, vars.group);
  if (!members.some((m) => m.name === host.name)) throw new Error(`host ${host.name} is not in the etcd group "${vars.group}"`);
  return {
    name: host.name,
    dataDir: vars.dataDir,
    listenPeerUrls: [httpUrl(addr, vars.peerPort)],
    // Loopback too: etcdctl and local clients work without knowing the address.
    listenClientUrls: [httpUrl(addr, vars.clientPort), httpUrl('127.0.0.1', vars.clientPort)],
    advertiseClientUrls: [httpUrl(addr, vars.clientPort)],
    initialAdvertisePeerUrls: [httpUrl(addr, vars.peerPort)],
    initialCluster: members,
    initialClusterState: state,
    initialClusterToken: vars.clusterToken,
    extra: vars.settings,
  };
}

export function envEntries(env: EtcdEnv): Array<[string, string]> {
  const base: Array<[string, string]> = [
    ['ETCD_NAME', env.name],
    ['ETCD_DATA_DIR', env.dataDir],
    ['ETCD_LISTEN_PEER_URLS', env.listenPeerUrls.join(',')],
    ['ETCD_LISTEN_CLIENT_URLS', env.listenClientUrls.join(',')],
    ['ETCD_ADVERTISE_CLIENT_URLS', env.advertiseClientUrls.join(',')],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', env.initialAdvertisePeerUrls.join(',')],
    ['ETCD_INITIAL_CLUSTER', env.initialCluster.map((m) => `${m.name}=${m.peerUrl}`).join(',')],
    ['ETCD_INITIAL_CLUSTER_STATE', env.initialClusterState],
    ['ETCD_INITIAL_CLUSTER_TOKEN', env.initialClusterToken],
  ];
  const extra = Object.keys(env.extra)
    .sort()
    .map((k): [string, string] => [k, env.extra[k]!]);
  return [...base, ...extra];
}

/** systemd EnvironmentFile value: bare when safe, else double-quoted with \ and " escaped. */
function envValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error('an etcd setting must be one line');
  return /^[A-Za-z0-9_.,:/=@+%-]*$/.test(value) ? value : `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function renderEtcdEnv(env: EtcdEnv): string {
  const lines = [HEADER, ...envEntries(env).map(([k, v]) => `${k}=${envValue(v)}`)];
  return `${lines.join('\n')}\n`;
}

/** KEY=value pairs of an environment file (comments and blank lines skipped, quotes removed). */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    out.set(line.slice(0, eq).trim(), value);
  }
  return out;
}

/** True when a running member must restart to apply the new file (not just bootstrap keys changed). */
export function runtimeSettingsDiffer(oldText: string, newText: string): boolean {
  const a = parseEnvFile(oldText);
  const b = parseEnvFile(newText);
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    if (BOOTSTRAP_KEYS.has(key)) continue;
    if (a.get(key) !== b.get(key)) return true;
  }
  return false;
}

/** True when the text was written by this role (as opposed to Debian's commented stock file). */
export function isOurs(text: string): boolean {
  return text.startsWith(HEADER);
}
