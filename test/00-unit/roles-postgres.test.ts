import { describe, expect, it } from 'vitest';
import { PostgresVarsSchema } from '../../roles/postgres/vars.ts';
import { decideStock, parseStockCluster } from '../../roles/postgres/index.ts';
import { renderCreateclusterDropin, renderPgdgSource, serverPackages, versionOf } from '../../roles/postgres/render.ts';
import { placeholderFacts } from '../../src/facts/placeholder.ts';

describe('postgres role', () => {
  const v = PostgresVarsSchema.parse({});
  const bookworm = placeholderFacts();
  const trixie = placeholderFacts({ os: { family: 'debian', id: 'debian', version: '13', codename: 'trixie', kernel: '6.12.0' } });

  it('defaults to the PostgreSQL of the host\'s release: 15 on Debian 12, 17 on Debian 13', () => {
    expect(v).toMatchObject({ source: 'debian', stockCluster: 'drop-if-empty' });
    expect(v.version).toBeUndefined();
    expect(versionOf(v, bookworm)).toBe(15);
    expect(versionOf(v, trixie)).toBe(17);
    expect(serverPackages(v, versionOf(v, trixie))).toEqual(['postgresql-17', 'postgresql-client-17']);
  });

  it('an explicit version wins over the release', () => {
    expect(versionOf(PostgresVarsSchema.parse({ version: 16 }), trixie)).toBe(16);
  });

  it('names the var to set on a release it knows no PostgreSQL for', () => {
    const sid = placeholderFacts({ os: { family: 'debian', id: 'debian', version: '', codename: 'forky', kernel: '6.17.0' } });
    expect(() => versionOf(v, sid)).toThrow(/no default PostgreSQL version for debian \? \(forky\): set postgres\.version/);
    expect(() => versionOf(v, placeholderFacts({ os: { family: 'rhel', id: 'rocky', version: '9', codename: '', kernel: '5.14' } }))).toThrow(/rocky 9: set postgres\.version/);
  });

  it('stops package installs from creating a cluster', () => {
    expect(renderCreateclusterDropin()).toMatch(/^create_main_cluster = false$/m);
  });

  it('renders the PGDG source for the host release, signed-by its key', () => {
    expect(renderPgdgSource(PostgresVarsSchema.parse({ source: 'pgdg', version: 17 }), 'bookworm')).toContain(
      'deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n',
    );
    expect(() => renderPgdgSource(v, 'bookworm main contrib')).toThrow(/codename/);
  });

  it('rejects a version and a source that do not exist', () => {
    expect(PostgresVarsSchema.safeParse({ version: 9 }).success).toBe(false);
    expect(PostgresVarsSchema.safeParse({ source: 'rpm' }).success).toBe(false);
  });
});

describe('Debian\'s stock cluster', () => {
  const probe = (lines: string[]) => parseStockCluster(lines.join('\n'));

  it('is left alone when there is none', () => {
    expect(decideStock(probe(['exists=no']), 15).action).toBe('none');
  });

  it('is dropped when it is empty, online and not Patroni\'s', () => {
    const s = probe(['exists=yes', 'datadir=/var/lib/postgresql/15/main', 'patroni=no', 'online=yes', 'dbs=0', 'tables=0']);
    expect(decideStock(s, 15)).toEqual({ action: 'drop', why: 'Debian cluster 15/main is the empty stock one' });
  });

  it('is refused when it holds data, is stopped, or Patroni runs on its data dir', () => {
    expect(decideStock(probe(['exists=yes', 'patroni=no', 'online=yes', 'dbs=1', 'tables=0']), 15)).toMatchObject({ action: 'refuse', why: expect.stringMatching(/holds data/) });
    expect(decideStock(probe(['exists=yes', 'patroni=no', 'online=yes', 'dbs=0', 'tables=3']), 15).action).toBe('refuse');
    expect(decideStock(probe(['exists=yes', 'patroni=no', 'online=no']), 15)).toMatchObject({ action: 'refuse', why: expect.stringMatching(/pg_ctlcluster 15 main start/) });
    expect(decideStock(probe(['exists=yes', 'datadir=/d', 'patroni=yes', 'online=yes']), 15)).toMatchObject({ action: 'refuse', why: expect.stringMatching(/Patroni already runs/) });
    expect(decideStock(probe(['exists=yes', 'patroni=no', 'online=yes', 'dbs=', 'tables=']), 15).action).toBe('refuse');
  });
});
