/**
 * patroni.yml as a typed object (Patroni's own key names), its YAML text, and our systemd unit.
 * Secrets stay Secret objects in the typed config and are revealed only while rendering.
 */
import { stringify } from 'yaml';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import type { Secret } from '../../src/core/secret.ts';
import { TaskError } from '../../src/core/errors.ts';
import type { Facts } from '../../src/facts/types.ts';
import { requirePostgresVersion } from '../../src/facts/release.ts';
import { clientEndpoints } from '../etcd/exports.ts';
import { hostPort, hostsOf, varsOf } from '../../src/toolkit/index.ts';
import { PatroniVarsSchema, type PatroniVars, type ParameterValue } from './vars.ts';

export const HEADER = '# Managed by rigger (role patroni). Local edits are overwritten on the next run.';

/**
 * PostgreSQL parameters the role keeps in the DCS unless told otherwise (seeds 000/002/004).
 * wal_log_hints is what lets pg_rewind bring a failed leader back as a replica.
 */
export const DEFAULT_DCS_PARAMETERS: Readonly<Record<string, string | number | boolean>> = {
  wal_level: 'replica',
  hot_standby: 'on',
  max_connections: 200,
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: '256MB',
  wal_log_hints: 'on',
  synchronous_commit: 'on',
  password_encryption: 'scram-sha-256',
  // WAL goes to pgBackRest (the pgbackrest role creates the stanza right after Patroni).
  archive_mode: 'on',
  archive_command: 'pgbackrest --stanza=main archive-push %p',
};

/** Per-member parameters (Debian's socket directory). */
export const DEFAULT_LOCAL_PARAMETERS: Readonly<Record<string, string | number | boolean>> = {
  unix_socket_directories: '/var/run/postgresql',
};

export interface PatroniUser {
  username: string;
  password: Secret;
}

export type PgParameters = Record<string, string | number | boolean>;

/** The parts of Patroni's configuration this role writes, under Patroni's own names. */
export interface PatroniConfig {
  scope: string;
  namespace: string;
  name: string;
  restapi: {
    listen: string;
    connect_address: string;
    authentication: PatroniUser;
  };
  etcd3: { hosts: string[] };
  bootstrap: {
    dcs: DcsConfig;
    initdb: Array<string | Record<string, string>>;
  };
  postgresql: {
    listen: string;
    connect_address: string;
    data_dir: string;
    bin_dir: string;
    pgpass: string;
    use_unix_socket: boolean;
    authentication: { superuser: PatroniUser; replication: PatroniUser; rewind: PatroniUser };
    parameters: PgParameters;
    pg_hba: string[];
  };
  watchdog: { mode: 'off' | 'automatic' | 'required'; device: string; safety_margin: number };
  tags: { nofailover: boolean; noloadbalance: boolean; clonefrom: boolean; nosync: boolean };
}

/** The dynamic (DCS) configuration this role manages, as GET /config shows it. */
export interface DcsConfig {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
  maximum_lag_on_failover: number;
  synchronous_mode: boolean;
  synchronous_mode_strict: boolean;
  postgresql: {
    use_pg_rewind: boolean;
    use_slots: boolean;
    parameters: PgParameters;
  };
}

/** The vars with postgresVersion filled in from the host's release when the inventory left it unset. */
export function withRelease(v: PatroniVars, facts: Pick<Facts, 'os'>): PatroniVars {
  return v.postgresVersion !== undefined ? v : { ...v, postgresVersion: requirePostgresVersion(facts, 'patroni.postgresVersion') };
}

export function postgresVersionOf(v: PatroniVars): number {
  // Unset only before withRelease(): a caller that skipped it would get paths of no version.
  if (v.postgresVersion === undefined) throw new TaskError('patroni.postgresVersion unresolved: withRelease(vars, facts) first');
  return v.postgresVersion;
}

export function dataDirOf(v: PatroniVars): string {
  return v.dataDir ?? `/var/lib/postgresql/${postgresVersionOf(v)}/main`;
}

export function binDirOf(v: PatroniVars): string {
  return v.binDir ?? `/usr/lib/postgresql/${postgresVersionOf(v)}/bin`;
}

export function memberAddressOf(v: PatroniVars, host: Host): string {
  return v.address ?? host.connection.address;
}

/** Role defaults, then the user's values; a null drops a default. Keys sorted for stable text. */
export function mergeParameters(defaults: Readonly<PgParameters>, user: Record<string, ParameterValue>): PgParameters {
  const merged: Record<string, ParameterValue> = { ...defaults, ...user };
  const out: PgParameters = {};
  for (const k of Object.keys(merged).sort()) {
    const v = merged[k];
    if (v !== null && v !== undefined) out[k] = v;
  }
  return out;
}

export function dcsConfigOf(v: PatroniVars): DcsConfig {
  return {
    ttl: v.dcs.ttl,
    loop_wait: v.dcs.loopWait,
    retry_timeout: v.dcs.retryTimeout,
    maximum_lag_on_failover: v.dcs.maximumLagOnFailover,
    synchronous_mode: v.dcs.synchronousMode,
    synchronous_mode_strict: v.dcs.synchronousModeStrict,
    postgresql: {
      use_pg_rewind: v.dcs.usePgRewind,
      use_slots: v.dcs.useSlots,
      parameters: mergeParameters(DEFAULT_DCS_PARAMETERS, v.dcs.parameters),
    },
  };
}

/** The address a member advertises, from its validated patroni vars. */
function peerAddress(host: Host, inventory: Inventory): string {
  return memberAddressOf(varsOf({ name: 'patroni', vars: PatroniVarsSchema }, host, inventory), host);
}

/** An address as a pg_hba ADDRESS field: one host for an IP, the network as given, a name as is. */
export function hbaAddress(address: string): string {
  if (address.includes('/')) return address;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return `${address}/32`;
  if (address.includes(':')) return `${address}/128`;
  return address;
}

export function pgHbaOf(v: PatroniVars, inventory: Inventory): string[] {
  const members = hostsOf(inventory, v.groups.postgres).map((h) => peerAddress(h, inventory));
  const others = [...hostsOf(inventory, v.groups.balancers), ...hostsOf(inventory, v.groups.backup)].map((h) => h.connection.address);
  const repl = v.authentication.replication.username;
  const lines = [
    'local all all peer',
    'host all all 127.0.0.1/32 scram-sha-256',
    'host all all ::1/128 scram-sha-256',
    // Patroni reads a stopped leader's timeline over a local replication connection (deciding on pg_rewind).
    `host replication ${repl} 127.0.0.1/32 scram-sha-256`,
    `host replication ${repl} ::1/128 scram-sha-256`,
    ...members.map((a) => `host replication ${repl} ${hbaAddress(a)} scram-sha-256`),
    // Members (pg_rewind, Patroni), proxies (HAProxy passes clients through with its own address), backup hosts.
    ...[...members, ...others, ...v.hba.clientNetworks].map((a) => `host all all ${hbaAddress(a)} scram-sha-256`),
    ...v.hba.extra,
  ];
  return [...new Set(lines)];
}

export function patroniConfigFor(v: PatroniVars, host: Host, inventory: Inventory): PatroniConfig {
  if (!hostsOf(inventory, v.groups.postgres).some((h) => h.name === host.name)) throw new Error(`host ${host.name} is not in the postgres group "${v.groups.postgres}"`);
  const addr = memberAddressOf(v, host);
  const initdb: Array<string | Record<string, string>> = [{ encoding: v.initdb.encoding }];
  if (v.initdb.locale) initdb.push({ locale: v.initdb.locale });
  if (v.initdb.dataChecksums) initdb.push('data-checksums');
  return {
    scope: v.scope,
    namespace: v.namespace,
    name: host.name,
    restapi: {
      listen: hostPort(v.restapi.listen, v.restapi.port),
      connect_address: hostPort(addr, v.restapi.port),
      authentication: { username: v.restapi.username, password: v.restapi.password },
    },
    etcd3: {
      hosts: clientEndpoints(inventory, v.groups.etcd).map((e) => hostPort(e.address, e.port)),
    },
    bootstrap: { dcs: dcsConfigOf(v), initdb },
    postgresql: {
      listen: hostPort(v.postgresql.listen, v.postgresql.port),
      connect_address: hostPort(addr, v.postgresql.port),
      data_dir: dataDirOf(v),
      bin_dir: binDirOf(v),
      pgpass: v.postgresql.pgpass,
      use_unix_socket: true,
      authentication: {
        superuser: v.authentication.superuser,
        replication: v.authentication.replication,
        rewind: v.authentication.rewind,
      },
      parameters: mergeParameters(DEFAULT_LOCAL_PARAMETERS, v.postgresql.parameters),
      pg_hba: pgHbaOf(v, inventory),
    },
    watchdog: { mode: v.watchdog.mode, device: v.watchdog.device, safety_margin: v.watchdog.safetyMargin },
    tags: { ...v.tags },
  };
}

function user(u: PatroniUser): { username: string; password: string } {
  return { username: u.username, password: u.password.reveal() };
}

/**
 * YAML 1.1 (Patroni's parser): strings like `on`/`off` come out quoted so they stay strings;
 * no line folding (pg_hba lines, archive_command).
 */
export function renderPatroniYaml(c: PatroniConfig): string {
  const plain = {
    ...c,
    restapi: { ...c.restapi, authentication: user(c.restapi.authentication) },
    postgresql: {
      ...c.postgresql,
      authentication: {
        superuser: user(c.postgresql.authentication.superuser),
        replication: user(c.postgresql.authentication.replication),
        rewind: user(c.postgresql.authentication.rewind),
      },
    },
  };
  return `${HEADER}\n${stringify(plain, { version: '1.1', lineWidth: 0 })}`;
}

export interface UnitOptions {
  scope: string;
  configFile: string;
  watchdog: boolean;
  watchdogDevice: string;
}

/**
 * Our unit. KillMode=process lets Patroni stop PostgreSQL itself (a clean shutdown, the
 * leader key released) instead of systemd killing the postmaster with it.
 */
export function renderUnit(o: UnitOptions): string {
  const lines = [
    '# Managed by rigger (role patroni).',
    '[Unit]',
    `Description=Patroni: PostgreSQL high availability (cluster ${o.scope})`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=postgres',
    'Group=postgres',
  ];
  // Patroni runs as postgres: hand it the watchdog device when there is one ('-' : absent is fine, '+': as root).
  if (o.watchdog)
    lines.push(`ExecStartPre=-+/bin/sh -c 'if [ -e ${o.watchdogDevice} ]; then chown postgres ${o.watchdogDevice}; fi'`);
  lines.push(
    `ExecStart=/usr/bin/patroni ${o.configFile}`,
    'ExecReload=/bin/kill -s HUP $MAINPID',
    'KillMode=process',
    // A busy primary needs time for its shutdown checkpoint.
    'TimeoutStopSec=120',
    'Restart=on-failure',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  );
  return `${lines.join('\n')}\n`;
}
