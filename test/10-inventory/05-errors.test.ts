import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InventoryError } from '../../src/inventory/errors.ts';
import { loadInventory } from '../../src/inventory/load.ts';
import { cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

/** Loads an inventory made of `files` and returns the InventoryError message. */
async function failure(files: Record<string, string>): Promise<{ dir: string; message: string }> {
  const dir = tmpInventory(files);
  const e = await errorOf(() => loadInventory(dir, { env: {} }));
  expect(e).toBeInstanceOf(InventoryError);
  return { dir, message: e.message };
}

const base = `hosts:\n  pg1: { address: 10.213.7.11 }\n  pg2: { address: 10.213.7.12 }\ngroups:\n  postgres: { hosts: [pg1, pg2] }\n`;

describe('inventory errors name the file, the host or group, and the field', () => {
  it('a wrong type', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `hosts:\n  pg1: {}\n  pg2: { port: "x" }\n` });
    expect(message).toBe(`${join(dir, 'hosts.yml')}: host pg2: port: expected number, got "x"`);
  });

  it('an out-of-range value and a wrong enum', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `hosts:\n  pg1: { port: 70000, transport: telnet }\n` });
    expect(message).toContain(`${join(dir, 'hosts.yml')}: host pg1: port: expected <=65535, got 70000`);
    expect(message).toContain(`${join(dir, 'hosts.yml')}: host pg1: transport: expected one of "ssh", "local", got "telnet"`);
  });

  it('unknown keys (strict objects), with a suggestion', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `conection: {}\nhosts:\n  pg1: { prot: 22 }\ngroups:\n  g: { host: [pg1] }\n` });
    const f = join(dir, 'hosts.yml');
    expect(message).toContain(`${f}: conection: unknown key (did you mean "connection"?)`);
    expect(message).toContain(`${f}: host pg1: prot: unknown key (did you mean "port"?)`);
    expect(message).toContain(`${f}: group g: host: unknown key (did you mean "hosts"?)`);
  });

  it('an inventory-wide connection field', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `connection: { become: "yes" }\nhosts: {}\n` });
    expect(message).toBe(`${join(dir, 'hosts.yml')}: connection.become: expected boolean, got "yes"`);
  });

  it('a group naming an unknown host or child group', async () => {
    const { dir, message } = await failure({
      'hosts.yml': base + `  db: { hosts: [pg1, pg9], children: [postgress] }\n`,
    });
    const f = join(dir, 'hosts.yml');
    expect(message).toContain(`${f}: group db: hosts[1]: unknown host "pg9" (did you mean "pg1" or "pg2"?)`);
    expect(message).toContain(`${f}: group db: children[0]: unknown group "postgress" (did you mean "postgres"?)`);
  });

  it('a cycle in children', async () => {
    const { dir, message } = await failure({
      'hosts.yml': `hosts: { pg1: {} }\ngroups:\n  a: { children: [b] }\n  b: { children: [c] }\n  c: { children: [a], hosts: [pg1] }\n`,
    });
    expect(message).toBe(`${join(dir, 'hosts.yml')}: group a: children: cycle: a -> b -> c -> a`);
  });

  it('group_vars or host_vars for an unknown group or host', async () => {
    const { dir, message } = await failure({
      'hosts.yml': base,
      'group_vars/postgress.yml': 'x: 1\n',
      'host_vars/pg3.yml': 'x: 1\n',
      'group_vars/README.md': 'not vars\n',
    });
    expect(message).toContain(`${join(dir, 'group_vars/postgress.yml')}: unknown group "postgress" (did you mean "postgres"?)`);
    expect(message).toContain(`${join(dir, 'host_vars/pg3.yml')}: unknown host "pg3" (did you mean "pg1" or "pg2"?)`);
    expect(message).not.toContain('README');
  });

  it('a group_vars file that is not a mapping', async () => {
    const { dir, message } = await failure({ 'hosts.yml': base, 'group_vars/postgres.yml': '- a\n- b\n' });
    expect(message).toBe(`${join(dir, 'group_vars/postgres.yml')}: group postgres: expected a mapping of vars, got a list`);
  });

  it('Ansible connection vars in our form', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `hosts:\n  pg1: { vars: { ansible_host: 10.213.7.11 } }\n` });
    expect(message).toBe(`${join(dir, 'hosts.yml')}: host pg1: vars.ansible_host: Ansible connection vars are not read in the rigger form: set \`address\` on the host or under \`connection:\``);
  });

  it('invalid YAML, with line and column', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `hosts:\n  pg1: { address: [ }\n` });
    expect(message).toMatch(new RegExp(`^${join(dir, 'hosts.yml')}:2:\\d+: invalid YAML: `));
  });

  it('duplicate keys in YAML', async () => {
    const { message } = await failure({ 'hosts.yml': `hosts:\n  pg1: {}\n  pg1: {}\n` });
    expect(message).toContain('invalid YAML: Map keys must be unique');
  });

  it('the reserved group "all", and a group named like a host', async () => {
    const { dir, message } = await failure({ 'hosts.yml': `hosts: { pg1: {} }\ngroups:\n  all: { vars: { a: 1 } }\n  pg1: { hosts: [pg1] }\n` });
    const f = join(dir, 'hosts.yml');
    expect(message).toContain(`${f}: group all: the group "all" is implicit`);
    expect(message).toContain(`${f}: group pg1: a host is also named "pg1"`);
  });

  it('a missing path, an empty directory, two inventory files', async () => {
    const missing = await errorOf(() => loadInventory('/nonexistent/rigger/inv'));
    expect(missing.message).toBe('/nonexistent/rigger/inv: no such file or directory');
    const empty = await failure({ 'notes.txt': 'x' });
    expect(empty.message).toContain(`${empty.dir}: no inventory file here`);
    const two = await failure({ 'hosts.yml': base, 'hosts.ini': '[a]\nb\n' });
    expect(two.message).toBe(`${two.dir}: more than one inventory file (hosts.yml, hosts.ini): keep one, or point -i at the file`);
  });

  it('shows file paths relative to the working directory when inside it', async () => {
    const e = await errorOf(() => loadInventory('test/fixtures/inventories/ours', { env: {} }));
    expect(e.message).toBe(
      'test/fixtures/inventories/ours/host_vars/pg2.yaml: host pg2: superuser_password.secret: environment variable RIGGER_TEST_PG_SUPER is not set',
    );
  });
});
