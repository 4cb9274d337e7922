import { describe, expect, it } from 'vitest';
import { placeholderFacts } from '../../src/facts/placeholder.ts';
import { distributionPostgresVersion, requirePostgresVersion } from '../../src/facts/release.ts';

const os = (id: string, version: string, codename: string) => placeholderFacts({ os: { family: 'debian', id, version, codename, kernel: '6.1.0' } });

describe('the PostgreSQL a release ships', () => {
  it('Debian 12 ships 15, Debian 13 ships 17 (VERSION_ID with or without a point release)', () => {
    expect(distributionPostgresVersion(os('debian', '12', 'bookworm'))).toBe(15);
    expect(distributionPostgresVersion(os('debian', '13', 'trixie'))).toBe(17);
    expect(distributionPostgresVersion(os('debian', '12.11', 'bookworm'))).toBe(15);
  });

  it('knows none for testing/sid or another distribution, and says which var to set', () => {
    expect(distributionPostgresVersion(os('debian', '', 'forky'))).toBeNull();
    expect(distributionPostgresVersion(os('ubuntu', '24.04', 'noble'))).toBeNull();
    expect(() => requirePostgresVersion(os('ubuntu', '24.04', 'noble'), 'patroni.postgresVersion')).toThrow(
      'no default PostgreSQL version for ubuntu 24.04 (noble): set patroni.postgresVersion (Debian 12 ships 15, Debian 13 ships 17)',
    );
  });
});
