/**
 * The resolved inventory: what every other layer sees. Loaders (our YAML, TypeScript,
 * Ansible INI/YAML) all produce this shape after validation and var merging.
 */
import type { JumpHost } from './jump.ts';

export type Vars = Record<string, unknown>;

export interface Connection {
  /** Address to connect to (IP or DNS name). */
  address: string;
  port: number;
  user: string;
  /** Path to a private key; unset means the SSH agent ($SSH_AUTH_SOCK) or default keys. */
  privateKey?: string;
  /** Run commands as root through `sudo -n` (only meaningful when user is not root). */
  become: boolean;
  /** known_hosts file the host key is checked against. */
  knownHosts: string;
  /** Accept and record an unknown host key (never a changed one). Off unless asked for. */
  acceptNewHostKeys: boolean;
  /** Skip host key checking entirely. Loud, explicit, never a default. */
  insecureSkipHostKeyCheck: boolean;
  connectTimeoutMs: number;
  /** 'ssh' for remote hosts, 'local' for the control machine itself. */
  transport: 'ssh' | 'local';
  /** Reach the host through this jump host (OpenSSH's ProxyJump); its host key is checked too. */
  proxyJump?: JumpHost;
}

export interface Host {
  name: string;
  connection: Connection;
  /** Groups the host belongs to, directly or through children, plus 'all'. Inventory order. */
  groups: string[];
  /** Fully merged vars (see README for precedence). Secret values are Secret instances. */
  vars: Vars;
  /** For error messages: top-level var key -> the file (or file#group) that set it last. */
  origins: Record<string, string>;
  /**
   * For error messages: every var path that a source set (`patroni`, `patroni.dcs`,
   * `patroni.dcs.ttl`) -> the file (or file#group) that set it last. Optional: inventories
   * built in memory may leave it out, and `origins` answers then.
   */
  fieldOrigins?: Record<string, string>;
}

export interface Group {
  name: string;
  /** All hosts of the group, including those of child groups, in inventory order. */
  hosts: string[];
  children: string[];
  vars: Vars;
}

export interface Inventory {
  /** File or directory it was loaded from (for error messages). */
  source: string;
  /** Hosts in inventory order. */
  hosts: Map<string, Host>;
  groups: Map<string, Group>;
  /** Which form it was loaded from: an Ansible inventory also carries vars of Ansible's roles. */
  flavor?: 'rigger' | 'ansible';
  /**
   * Hosts the run takes out of the cluster (a playbook with `departing: 'limit'`: remove.ts).
   * They are in no group and not in `hosts`, so every role renders its configs as if they were
   * gone; steps reach them by name (ctx.delegate) and read them here. See src/engine/departing.ts.
   */
  departing?: ReadonlyMap<string, Host>;
}
