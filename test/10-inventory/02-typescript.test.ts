import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { isSecret } from '../../src/core/secret.ts';
import { FIXTURES, cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

describe('TypeScript form: inventory.ts default-exporting defineInventory', () => {
  it('loads from the directory, with group_vars beside it', async () => {
    const inv = await loadInventory(join(FIXTURES, 'ts'), { env: { HOME: '/home/t' } });
    expect([...inv.hosts.keys()]).toEqual(['etcd1', 'etcd2']);
    expect(inv.hosts.get('etcd2')!.connection).toMatchObject({ address: '10.213.7.32', port: 2200, user: 'admin', knownHosts: join(FIXTURES, 'ts/known_hosts') });
    expect(inv.hosts.get('etcd2')!.vars.etcd).toEqual({ cluster: 'e1', port: 2379, data_dir: '/var/lib/etcd', name: 'e2' });
    expect(inv.hosts.get('etcd1')!.vars.etcd).toEqual({ cluster: 'e1', port: 2379, data_dir: '/var/lib/etcd' });
    const token = inv.hosts.get('etcd1')!.vars.api_token;
    expect(isSecret(token) && token.reveal()).toBe('ts-inline-token-value');
  });

  it('loads the file itself', async () => {
    const inv = await loadInventory(join(FIXTURES, 'ts', 'inventory.ts'));
    expect(inv.groups.get('etcd')!.hosts).toEqual(['etcd1', 'etcd2']);
  });

  it('validates the export at run time with the same schema', async () => {
    const dir = tmpInventory({
      'inventory.ts': `export default { kind: 'inventory', definition: { hosts: { pg1: { port: 'x' } } } };\n`,
    });
    const e = await errorOf(() => loadInventory(dir));
    expect(e.name).toBe('InventoryError');
    expect(e.message).toBe(`${join(dir, 'inventory.ts')}: host pg1: port: expected number, got "x"`);
  });

  it('says what to export when the default export is missing', async () => {
    const dir = tmpInventory({ 'inventory.ts': `export const hosts = {};\n` });
    const e = await errorOf(() => loadInventory(dir));
    expect(e.message).toContain('inventory.ts: expected `export default defineInventory({ ... })`');
  });
});
