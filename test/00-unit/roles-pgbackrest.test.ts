import { describe, expect, it } from 'vitest';
import { PgbackrestVarsSchema, archiveCommand } from '../../roles/pgbackrest/vars.ts';
import {
  BLOCK_BEGIN,
  BLOCK_END,
  authorizedKeyLine,
  backupServiceUnit,
  backupTimerUnit,
  dbHostConf,
  knownHostsLine,
  renderPgbackrestConf,
  repoHostConf,
  withManagedBlock,
  withRelease,
} from '../../roles/pgbackrest/render.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import { Secret } from '../../src/core/secret.ts';
import { blockFile, blockLines } from '../../roles/pgbackrest/block-file.ts';
import { peerLines } from '../../roles/pgbackrest/trust.ts';
import { archiveProblem, checkFingerprint, parseInfo } from '../../roles/pgbackrest/live.ts';
import type { Task, TaskContext } from '../../src/engine/types.ts';
import pgbackrest from '../../roles/pgbackrest/index.ts';
import { ctxFor, facts, inventory } from '../support/role-context.ts';

// Debian 12 facts: the data directory of its PostgreSQL 15.
const v = withRelease(PgbackrestVarsSchema.parse({}), placeholderFacts());
const members = [
  { name: 'pg1', address: '10.213.7.11' },
  { name: 'pg2', address: '10.213.7.12' },
  { name: 'pg3', address: '10.213.7.13' },
];

function iniSection(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`[${name}]`);
  if (start < 0) throw new Error(`no [${name}]`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('['));
  return (end < 0 ? rest : rest.slice(0, end)).filter((l) => l !== '');
}

describe('pgbackrest vars', () => {
  it('defaults to the seeds, and the data directory of the host release\'s PostgreSQL', () => {
    expect(PgbackrestVarsSchema.parse({}).pg.path).toBeUndefined();
    const trixie = placeholderFacts({ os: { family: 'debian', id: 'debian', version: '13', codename: 'trixie', kernel: '6.12.0' } });
    expect(withRelease(PgbackrestVarsSchema.parse({}), trixie).pg.path).toBe('/var/lib/postgresql/17/main');
    expect(withRelease(PgbackrestVarsSchema.parse({ pg: { path: '/srv/pg' } }), trixie).pg.path).toBe('/srv/pg');
    expect(v.stanza).toBe('main');
    expect(v.repo).toEqual({ path: '/var/lib/pgbackrest', retentionFull: 2, cipherType: 'none' });
    expect(v.pg.path).toBe('/var/lib/postgresql/15/main');
    expect(v.configPath).toBe('/etc/pgbackrest.conf');
    expect(archiveCommand('main')).toBe('pgbackrest --stanza=main archive-push %p');
  });
  it('rejects a stanza name with blanks', () => {
    expect(PgbackrestVarsSchema.safeParse({ stanza: 'my stanza' }).success).toBe(false);
  });
});

describe('pgbackrest.conf', () => {
  it('repo host: repository settings and every database host over SSH', () => {
    const text = renderPgbackrestConf(repoHostConf(v, members));
    const g = iniSection(text, 'global');
    expect(g).toContain('repo1-path=/var/lib/pgbackrest');
    expect(g).toContain('repo1-retention-full=2');
    expect(g).toContain('compress-type=zst');
    expect(g).toContain('compress-level=3');
    expect(g).toContain('start-fast=y');
    expect(g).toContain('log-level-console=info');
    expect(g).toContain('log-level-file=detail');
    expect(g.some((l) => l.startsWith('repo1-cipher'))).toBe(false);
    const s = iniSection(text, 'main');
    expect(s).toContain('pg1-host=10.213.7.11');
    expect(s).toContain('pg3-host=10.213.7.13');
    expect(s).toContain('pg2-host-user=postgres');
    expect(s).toContain('pg1-path=/var/lib/postgresql/15/main');
    expect(s).toContain('pg1-port=5432');
    expect(s.filter((l) => /^pg\d+-host=/.test(l))).toHaveLength(3);
  });
  it('db host: points at the repository host, knows only its own data dir', () => {
    const text = renderPgbackrestConf(dbHostConf(v, '10.213.7.31'));
    const g = iniSection(text, 'global');
    expect(g).toContain('repo1-host=10.213.7.31');
    expect(g).toContain('repo1-host-user=pgbackrest');
    expect(g.some((l) => l.startsWith('repo1-path'))).toBe(false);
    expect(iniSection(text, 'main')).toEqual([
      'pg1-path=/var/lib/postgresql/15/main',
      'pg1-port=5432',
      'pg1-socket-path=/var/run/postgresql',
      'pg1-user=postgres',
    ]);
  });
  it('encryption needs a passphrase, which only the repo host gets', () => {
    const enc = withRelease(PgbackrestVarsSchema.parse({ repo: { cipherType: 'aes-256-cbc', cipherPass: new Secret('cipher-pass-123') } }), placeholderFacts());
    expect(() => repoHostConf(enc, members)).toThrow(/cipherPass/);
    const text = renderPgbackrestConf(repoHostConf(enc, members, enc.repo.cipherPass!.reveal()));
    expect(iniSection(text, 'global')).toContain('repo1-cipher-type=aes-256-cbc');
    expect(iniSection(text, 'global')).toContain('repo1-cipher-pass=cipher-pass-123');
    expect(renderPgbackrestConf(dbHostConf(enc, '10.213.7.31'))).not.toContain('cipher');
  });
  it('refuses an empty database group', () => {
    expect(() => repoHostConf(v, [])).toThrow(/"postgres" has no hosts/);
  });
  it('adds async archiving when asked', () => {
    const text = renderPgbackrestConf(dbHostConf(withRelease(PgbackrestVarsSchema.parse({ archiveAsync: true }), placeholderFacts()), '10.0.0.9'));
    expect(iniSection(text, 'global')).toEqual(expect.arrayContaining(['archive-async=y', 'spool-path=/var/spool/pgbackrest']));
  });
});

describe('SSH trust files', () => {
  it('restricts authorized keys and pins host keys by name and address', () => {
    expect(authorizedKeyLine('pg1', 'ssh-ed25519 AAAAC3xyz postgres@pg1\n')).toBe('restrict ssh-ed25519 AAAAC3xyz rigger-pgbackrest:pg1');
    expect(knownHostsLine(['pg1', '10.213.7.11'], 'ssh-ed25519 AAAAC3host root@pg1')).toBe('pg1,10.213.7.11 ssh-ed25519 AAAAC3host');
    expect(() => knownHostsLine(['x'], 'garbage')).toThrow(/not an SSH public key/);
  });
  it('replaces only its own block and keeps the user lines', () => {
    const first = withManagedBlock('ssh-rsa USERKEY me@laptop', ['restrict k1']);
    expect(first).toBe(`ssh-rsa USERKEY me@laptop\n${BLOCK_BEGIN}\nrestrict k1\n${BLOCK_END}\n`);
    const second = withManagedBlock(first + 'ssh-rsa OTHER x\n', ['restrict k2', 'restrict k3']);
    expect(second).toBe(`ssh-rsa USERKEY me@laptop\n${BLOCK_BEGIN}\nrestrict k2\nrestrict k3\n${BLOCK_END}\nssh-rsa OTHER x\n`);
    expect(withManagedBlock(second, ['restrict k2', 'restrict k3'])).toBe(second);
    expect(withManagedBlock('', ['a'])).toBe(`${BLOCK_BEGIN}\na\n${BLOCK_END}\n`);
  });
});

describe('backup timers', () => {
  it('runs full and diff backups as the repo user on the seeds schedule', () => {
    expect(backupServiceUnit(v, 'full')).toContain('ExecStart=/usr/bin/pgbackrest --stanza=main --type=full backup');
    expect(backupServiceUnit(v, 'diff')).toContain('User=pgbackrest');
    expect(backupTimerUnit(v, 'full')).toContain('OnCalendar=Sun *-*-* 02:00:00');
    expect(backupTimerUnit(v, 'diff')).toContain('OnCalendar=Mon..Sat *-*-* 02:00:00');
    expect(backupTimerUnit(v, 'diff')).toContain('WantedBy=timers.target');
  });
});


describe('managed block op', () => {
  const spec = {
    name: 't',
    path: '/home/u/.ssh/authorized_keys',
    owner: 'u',
    group: 'u',
    mode: '0600',
    lines: () => ['restrict ssh-ed25519 K rigger-pgbackrest:pg1'],
  };
  const ctx = { check: false, diff: true } as unknown as TaskContext;
  it('creates a missing file', async () => {
    const plan = await blockFile(spec).plan({ code: 0, stdout: 'missing\n' }, ctx);
    expect(plan.change).toBe(true);
    expect(plan.change && plan.summary).toMatch(/create/);
  });
  it('is unchanged when block, owner and mode match', async () => {
    const body = withManagedBlock('ssh-rsa USER me\n', ['restrict ssh-ed25519 K rigger-pgbackrest:pg1']);
    const plan = await blockFile(spec).plan({ code: 0, stdout: `u:u 600\n@@RIGGER-BLOCK-CONTENT@@\n${body}` }, ctx);
    expect(plan).toEqual({ change: false });
    expect(blockLines(body)).toEqual(['restrict ssh-ed25519 K rigger-pgbackrest:pg1']);
  });
  it('fixes the mode and shows a diff for a changed block', async () => {
    const plan = await blockFile(spec).plan({ code: 0, stdout: 'u:u 644\n@@RIGGER-BLOCK-CONTENT@@\nssh-rsa USER me\n' }, ctx);
    expect(plan.change && plan.summary).toMatch(/update block, mode 644 -> 0600/);
    expect(plan.change && plan.diff).toContain('+restrict ssh-ed25519 K rigger-pgbackrest:pg1');
  });
});

describe('peer lines', () => {
  const peers = [
    { name: 'pg1', address: '10.213.7.11' },
    { name: 'pg2', address: '10.213.7.12' },
  ];
  const isLineOf = (p: { name: string }, l: string) => l.startsWith(`${p.name},`);
  it('keeps the old line of a peer that is not in this run, drops removed peers', () => {
    const current = ['pg1,10.213.7.11 ssh-ed25519 OLD1', 'pg2,10.213.7.12 ssh-ed25519 OLD2', 'pg9,10.213.7.19 ssh-ed25519 GONE'];
    const lines = peerLines(peers, current, (p) => (p.name === 'pg1' ? 'pg1,10.213.7.11 ssh-ed25519 NEW1' : undefined), isLineOf);
    expect(lines).toEqual(['pg1,10.213.7.11 ssh-ed25519 NEW1', 'pg2,10.213.7.12 ssh-ed25519 OLD2']);
  });
  it('writes nothing for a peer without a key yet', () => {
    expect(peerLines(peers, [], (p) => (p.name === 'pg1' ? null : 'x'), isLineOf)).toEqual(['x']);
  });
});

describe('pgbackrest live state', () => {
  it('reads the stanza status from info JSON', () => {
    const json = JSON.stringify([{ name: 'main', status: { code: 2, message: 'no valid backups' }, backup: [], db: [] }]);
    expect(parseInfo(json, 'main')).toMatchObject({ status: { code: 2 }, backup: [] });
    expect(() => parseInfo(json, 'other')).toThrow(/does not list stanza other/);
    expect(() => parseInfo('ERROR: x', 'main')).toThrow(/did not print JSON/);
  });
  it('names what is wrong with the archive settings', () => {
    expect(archiveProblem({ mode: 'on', command: 'pgbackrest --stanza=main archive-push %p' }, 'main')).toBeNull();
    expect(archiveProblem({ mode: 'off', command: '(disabled)' }, 'main')).toMatch(/archive_mode is "off".*archive_command is "\(disabled\)"/);
  });
  it('fingerprints independently of order', () => {
    expect(checkFingerprint(['a', 'b'])).toBe(checkFingerprint(['b', 'a']));
    expect(checkFingerprint(['a', 'b'])).not.toBe(checkFingerprint(['a', 'c']));
  });
});


const names = (tasks: Task[]) => tasks.map((t) => t.name);

describe('pgbackrest task lists', () => {
  it('pgbackrest: a host in neither group is refused, naming the pattern to play', async () => {
    const { ctx } = ctxFor('lb1', PgbackrestVarsSchema.parse({}));
    await expect(async () => pgbackrest.tasks(ctx)).rejects.toThrow(/play this role on "postgres:backup"/);
  });
  it('pgbackrest: repository and database hosts get their own steps', async () => {
    const repo = await pgbackrest.tasks(ctxFor('backup1', PgbackrestVarsSchema.parse({})).ctx);
    expect(names(repo)).toEqual(expect.arrayContaining(['pgbackrest stanza main', 'pgbackrest check (stanza main)', 'first full backup (stanza main)']));
    expect(names(repo)).not.toContain('archive settings on the leader');
    const db = await pgbackrest.tasks(ctxFor('pg1', PgbackrestVarsSchema.parse({})).ctx);
    expect(names(db)).toContain('archive settings on the leader');
    expect(names(db)).not.toContain('pgbackrest stanza main');
  });
});
