import { describe, expect, it } from 'vitest';
import { PostgresVars } from '../../roles/postgres/vars.ts';
import { renderCreateclusterDropin, renderPgdgSource, serverPackages } from '../../roles/postgres/render.ts';

describe('postgres role', () => {
  const v = PostgresVars.parse({});

  it('defaults to Debian 12\'s PostgreSQL 15', () => {
    expect(v).toMatchObject({ version: 15, source: 'debian', stockCluster: 'drop-if-empty' });
    expect(serverPackages(v)).toEqual(['postgresql-15', 'postgresql-client-15']);
  });

  it('stops package installs from creating a cluster', () => {
    expect(renderCreateclusterDropin()).toMatch(/^create_main_cluster = false$/m);
  });

  it('renders the PGDG source for the host release, signed-by its key', () => {
    expect(renderPgdgSource(PostgresVars.parse({ source: 'pgdg', version: 17 }), 'bookworm')).toContain(
      'deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n',
    );
    expect(() => renderPgdgSource(v, 'bookworm main contrib')).toThrow(/codename/);
  });

  it('rejects a version and a source that do not exist', () => {
    expect(PostgresVars.safeParse({ version: 9 }).success).toBe(false);
    expect(PostgresVars.safeParse({ source: 'rpm' }).success).toBe(false);
  });
});
