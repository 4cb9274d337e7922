import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { selectHosts } from '../../src/inventory/pattern.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { FIXTURES } from './support.ts';

let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(join(FIXTURES, 'ours'), { env: { RIGGER_TEST_PG_SUPER: 'x-secret-x' } });
});

const names = (pattern: string, limit?: string) => selectHosts(inv, pattern, limit).map((h) => h.name);

describe('host patterns', () => {
  it('all, *, a group, a host', () => {
    expect(names('all')).toEqual(['pg1', 'pg2', 'pg3', 'backup1', 'local']);
    expect(names('*')).toEqual(['pg1', 'pg2', 'pg3', 'backup1', 'local']);
    expect(names('replicas')).toEqual(['pg2', 'pg3']);
    expect(names('pg3')).toEqual(['pg3']);
  });

  it('union with : or , in inventory order', () => {
    expect(names('backup:replicas')).toEqual(['pg2', 'pg3', 'backup1']);
    expect(names('local, pg1')).toEqual(['pg1', 'local']);
  });

  it('intersection and exclusion, applied after unions whatever their position', () => {
    expect(names('db:&replicas')).toEqual(['pg2', 'pg3']);
    expect(names('all:!postgres')).toEqual(['backup1', 'local']);
    expect(names('!local:db:&postgres:!pg2')).toEqual(['pg1', 'pg3']);
    expect(names('!db')).toEqual(['local']);
  });

  it('globs and regexes over group and host names', () => {
    expect(names('pg*')).toEqual(['pg1', 'pg2', 'pg3']);
    expect(names('pg[13]')).toEqual(['pg1', 'pg3']);
    expect(names('back*')).toEqual(['backup1']);
    expect(names('~pg[0-2]')).toEqual(['pg1', 'pg2']);
  });

  it('--limit uses the same syntax and intersects', () => {
    expect(names('postgres', 'pg2')).toEqual(['pg2']);
    expect(names('postgres', 'all:!pg1')).toEqual(['pg2', 'pg3']);
    expect(names('postgres', 'backup')).toEqual([]);
    expect(names('db', 'replicas,backup1')).toEqual(['pg2', 'pg3', 'backup1']);
  });

  it('an unknown group or host is an InventoryError naming it, with close names', () => {
    expect(() => names('postgress')).toThrow('hosts pattern "postgress": unknown group or host "postgress" (did you mean "postgres"?)');
    expect(() => names('all', 'pg9')).toThrow('--limit "pg9": unknown group or host "pg9" (did you mean "pg1" or "pg2" or "pg3"?)');
    expect(() => names('db:&replicaz')).toThrow(/unknown group or host "replicaz" \(did you mean "replicas"\?\)/);
    expect(() => names('zz*')).toThrow('"zz*" matches no group or host');
    try {
      names('nosuch');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).name).toBe('InventoryError');
    }
  });
});
