/**
 * What every loader (our YAML, TypeScript, Ansible INI, Ansible YAML) produces before var
 * merging: hosts and groups in inventory order, each with its layers of vars. merge.ts turns
 * it into the resolved Inventory.
 */
import type { JumpHost } from './jump.ts';
import type { Vars } from './types.ts';

/** One source of vars: a file, or a group's inline vars inside a file. Secrets already resolved. */
export interface VarLayer {
  vars: Vars;
  file: string;
  /** Set for a group's inline vars: the origin reads "FILE (group NAME)". */
  inlineGroup?: string;
}

/** Connection settings a host entry or the inventory-wide defaults may set. */
export interface ConnectionOverrides {
  address?: string;
  port?: number;
  user?: string;
  privateKey?: string;
  knownHosts?: string;
  become?: boolean;
  connectTimeoutMs?: number;
  transport?: 'ssh' | 'local';
  proxyJump?: JumpHost;
}

export interface RawHost {
  name: string;
  /** File that declared the host first. */
  file: string;
  connection: ConnectionOverrides;
  /** Host inline vars, in the order they appeared. */
  layers: VarLayer[];
}

export interface RawGroup {
  name: string;
  file: string;
  /** Direct member hosts. */
  hosts: string[];
  children: string[];
  layers: VarLayer[];
}

export type Flavor = 'rigger' | 'ansible';

export interface RawInventory {
  flavor: Flavor;
  /** The path the user gave. */
  source: string;
  /** The inventory file itself. */
  file: string;
  /** Directory relative paths resolve against; group_vars/ and host_vars/ live here. */
  baseDir: string;
  /** Inventory-wide connection defaults (our form's `connection:`). */
  connection: ConnectionOverrides;
  /** Inventory-wide vars (our `vars:`, Ansible's `all` group vars). */
  globalLayers: VarLayer[];
  hosts: RawHost[];
  /** Declared groups in inventory order, without the implicit `all`. */
  groups: RawGroup[];
}

/** group_vars/ and host_vars/ files, by group or host name, each name's files in load order. */
export interface VarsFiles {
  groups: Map<string, VarLayer[]>;
  hosts: Map<string, VarLayer[]>;
}

/** Host and group names: no pattern syntax, no whitespace. */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-@]*$/;
