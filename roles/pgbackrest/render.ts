/**
 * pgbackrest.conf for both sides, as a typed INI object then text. The repository host
 * holds the stanza with every database host (pg1..pgN over SSH) and the repo settings; a
 * database host points at the repository host and knows only its own data directory.
 */
import { TaskError } from '../../src/core/errors.ts';
import { requirePostgresVersion } from '../../src/facts/release.ts';
import type { Facts } from '../../src/facts/types.ts';
import type { PgbackrestVars } from './vars.ts';

/** The vars with pg.path filled in from the host's release when the inventory left it unset. */
export function withRelease(v: PgbackrestVars, facts: Pick<Facts, 'os'>): PgbackrestVars {
  if (v.pg.path !== undefined) return v;
  return { ...v, pg: { ...v.pg, path: `/var/lib/postgresql/${requirePostgresVersion(facts, 'pgbackrest.pg.path')}/main` } };
}

function pgPath(v: PgbackrestVars): string {
  if (v.pg.path === undefined) throw new TaskError('pgbackrest.pg.path unresolved: withRelease(vars, facts) first');
  return v.pg.path;
}

export type IniValue = string | number | boolean;

export interface IniSection {
  name: string;
  options: Array<[string, IniValue]>;
}

export interface PgbackrestConf {
  sections: IniSection[];
}

export interface DbMember {
  /** Inventory name, for the comment. */
  name: string;
  address: string;
}

function logOptions(v: PgbackrestVars): Array<[string, IniValue]> {
  return [
    ['log-level-console', v.logLevelConsole],
    ['log-level-file', v.logLevelFile],
    ['log-path', v.logPath],
  ];
}

/** The repository host's view: repo settings and pg1..pgN reached over SSH as pgUser. */
export function repoHostConf(v: PgbackrestVars, members: DbMember[], cipherPass?: string): PgbackrestConf {
  if (members.length === 0) throw new Error(`pgbackrest: group "${v.dbGroup}" has no hosts: the stanza needs at least one database host`);
  if (v.repo.cipherType !== 'none' && cipherPass === undefined) {
    throw new Error(`pgbackrest.repo.cipherType is ${v.repo.cipherType}: set pgbackrest.repo.cipherPass (a secret)`);
  }
  const global: Array<[string, IniValue]> = [
    ['repo1-path', v.repo.path],
    ['repo1-retention-full', v.repo.retentionFull],
  ];
  if (v.repo.retentionDiff !== undefined) global.push(['repo1-retention-diff', v.repo.retentionDiff]);
  if (v.repo.cipherType !== 'none') {
    global.push(['repo1-cipher-type', v.repo.cipherType], ['repo1-cipher-pass', cipherPass!]);
  }
  global.push(
    ['compress-type', v.compressType],
    ['compress-level', v.compressLevel],
    ['process-max', v.processMax],
    ['start-fast', v.startFast],
    ...logOptions(v),
  );
  const stanza: Array<[string, IniValue]> = [];
  members.forEach((m, i) => {
    const n = i + 1;
    stanza.push(
      [`pg${n}-host`, m.address],
      [`pg${n}-host-user`, v.pgUser],
      [`pg${n}-path`, pgPath(v)],
      [`pg${n}-port`, v.pg.port],
      [`pg${n}-socket-path`, v.pg.socketPath],
      [`pg${n}-user`, v.pg.user],
    );
  });
  return { sections: [{ name: 'global', options: global }, { name: v.stanza, options: stanza }] };
}

/** A database host's view: archive-push/get go to the repository host over SSH. */
export function dbHostConf(v: PgbackrestVars, repoAddress: string): PgbackrestConf {
  const global: Array<[string, IniValue]> = [
    ['repo1-host', repoAddress],
    ['repo1-host-user', v.repoUser],
    ['compress-type', v.compressType],
    ['compress-level', v.compressLevel],
    ['process-max', v.processMax],
    ...logOptions(v),
  ];
  if (v.archiveAsync) global.push(['archive-async', true], ['spool-path', v.spoolPath]);
  return {
    sections: [
      { name: 'global', options: global },
      {
        name: v.stanza,
        options: [
          ['pg1-path', pgPath(v)],
          ['pg1-port', v.pg.port],
          ['pg1-socket-path', v.pg.socketPath],
          ['pg1-user', v.pg.user],
        ],
      },
    ],
  };
}

function iniValue(v: IniValue): string {
  if (typeof v === 'boolean') return v ? 'y' : 'n';
  const s = String(v);
  if (/[\n\r]/.test(s)) throw new Error('pgbackrest.conf: a value contains a line break');
  return s;
}

export function renderPgbackrestConf(c: PgbackrestConf): string {
  const out: string[] = ['# Managed by rigger (role pgbackrest). Local changes are overwritten.'];
  for (const s of c.sections) {
    out.push('', `[${s.name}]`, ...s.options.map(([k, v]) => `${k}=${iniValue(v)}`));
  }
  return out.join('\n') + '\n';
}

// --- SSH trust between the repository host and the database hosts ---------------------

export const BLOCK_BEGIN = '# BEGIN rigger pgbackrest';
export const BLOCK_END = '# END rigger pgbackrest';

/** Tag ending our authorized_keys lines: says which peer a key belongs to. */
export function keyTag(peer: string): string {
  return `rigger-pgbackrest:${peer}`;
}

/**
 * A peer's public key, restricted (pgbackrest needs commands only: no pty, no forwarding),
 * its comment replaced by a tag naming the peer so the line can be kept while that peer is
 * not part of a run.
 */
export function authorizedKeyLine(peer: string, publicKey: string): string {
  const [type, key] = oneLine(publicKey).split(/\s+/);
  if (!type || !key) throw new Error(`not an SSH public key from ${peer}: ${publicKey.slice(0, 40)}`);
  return `restrict ${type} ${key} ${keyTag(peer)}`;
}

/** known_hosts entry pinning a host's own key under its inventory name and address. */
export function knownHostsLine(names: string[], hostKey: string): string {
  const parts = oneLine(hostKey).split(/\s+/);
  if (parts.length < 2) throw new Error(`not an SSH public key: ${hostKey.slice(0, 40)}`);
  return `${[...new Set(names)].join(',')} ${parts[0]} ${parts[1]}`;
}

function oneLine(s: string): string {
  const t = s.trim();
  if (t.includes('\n')) throw new Error('an SSH key must be one line');
  return t;
}

/**
 * `current` with our block (between the markers) replaced by `lines`, or appended when it
 * is not there yet. Lines outside the block are the user's and stay as they are.
 */
export function withManagedBlock(current: string, lines: string[]): string {
  const block = [BLOCK_BEGIN, ...lines, BLOCK_END].join('\n') + '\n';
  const start = current.indexOf(BLOCK_BEGIN + '\n');
  const endMark = current.indexOf(BLOCK_END, start < 0 ? 0 : start);
  if (start >= 0 && endMark > start) {
    let end = endMark + BLOCK_END.length;
    if (current[end] === '\n') end++;
    return current.slice(0, start) + block + current.slice(end);
  }
  const sep = current === '' || current.endsWith('\n') ? '' : '\n';
  return current + sep + block;
}

// --- scheduled backups on the repository host ----------------------------------------

export type BackupType = 'full' | 'diff';

export function backupServiceUnit(v: PgbackrestVars, type: BackupType): string {
  return [
    '# Managed by rigger (role pgbackrest).',
    '[Unit]',
    `Description=pgBackRest ${type} backup of stanza ${v.stanza}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `User=${v.repoUser}`,
    `ExecStart=/usr/bin/pgbackrest --stanza=${v.stanza} --type=${type} backup`,
    '',
  ].join('\n');
}

export function backupTimerUnit(v: PgbackrestVars, type: BackupType): string {
  return [
    '# Managed by rigger (role pgbackrest).',
    '[Unit]',
    `Description=pgBackRest ${type} backup of stanza ${v.stanza} (schedule)`,
    '',
    '[Timer]',
    `OnCalendar=${type === 'full' ? v.schedule.full : v.schedule.diff}`,
    // A run missed while the host was down happens at the next boot.
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}

export function unitName(v: PgbackrestVars, type: BackupType, kind: 'service' | 'timer'): string {
  return `pgbackrest-${v.stanza}-${type}.${kind}`;
}
