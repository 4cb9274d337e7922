import { describe, expect, it } from 'vitest';
import { PostgresVarsSchema } from '../../roles/postgres/vars.ts';
import { decideStock, parseStockCluster } from '../../roles/postgres/index.ts';
import { renderCreateclusterDropin, renderPgdgSource, serverPackages } from '../../roles/postgres/render.ts';

describe('postgres role', () => {
  const v = PostgresVarsSchema.parse({});

  it('defaults to Debian 12\'s PostgreSQL 15', () => {
    expect(v).toMatchObject({ version: 15, source: 'debian', stockCluster: 'drop-if-empty' });
    expect(serverPackages(v)).toEqual(['postgresql-15', 'postgresql-client-15']);
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
