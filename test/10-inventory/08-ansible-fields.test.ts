/**
 * Ansible connection vars rigger does not honour are refused, naming file, host or group, and
 * field — in INI host lines, [group:vars], YAML inventories and group_vars/host_vars files —
 * never dropped silently. The honoured ones (and ansible_python_interpreter) load.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

const env = { HOME: '/home/tester' };

describe('unhonoured Ansible connection vars', () => {
  it.each([
    ['ansible_password=x', 'ansible_password', 'keys only'],
    ['ansible_ssh_pass=x', 'ansible_ssh_pass', 'keys only'],
    ['ansible_become_password=x', 'ansible_become_password', 'sudo -n'],
    ['ansible_become_user=postgres', 'ansible_become_user', '"postgres" is not supported: rigger becomes root only'],
    ['ansible_become_method=su', 'ansible_become_method', '"su" is not supported'],
    ["ansible_ssh_common_args='-o StrictHostKeyChecking=no'", 'ansible_ssh_common_args', 'except a lone `-o ProxyJump=[user@]host[:port]`'],
    ["ansible_ssh_common_args='-o ProxyJump=a@b:99999'", 'ansible_ssh_common_args', 'ProxyJump "a@b:99999": expected [user@]host[:port]'],
    ["ansible_ssh_extra_args='-J bastion'", 'ansible_ssh_extra_args', 'a jump host goes in ansible_ssh_common_args'],
    ['ansible_ssh_extra_args=-C', 'ansible_ssh_extra_args', 'ssh arguments'],
    ['ansible_host_key_checking=False', 'ansible_host_key_checking', 'known_hosts'],
    ['ansible_connection=docker', 'ansible_connection', 'ssh or local'],
    ['ansible_ssh_pipelining=True', 'ansible_ssh_pipelining', 'not a connection var rigger honours'],
  ])('%s on a host line is refused', async (assignment, field, words) => {
    const dir = tmpInventory({ hosts: `[db]\npg1 ansible_host=198.51.100.1 ${assignment}\n` });
    const e = await errorOf(() => loadInventory(dir, { env }));
    expect(e.message).toContain(`host pg1: ${field}: `);
    expect(e.message).toContain(words);
    expect(e.message).toContain(join(dir, 'hosts'));
  });

  it('in [group:vars], a YAML inventory and group_vars/host_vars files, naming the file and group or host', async () => {
    const ini = tmpInventory({ hosts: '[db]\npg1\n[db:vars]\nansible_become_user=postgres\n' });
    expect((await errorOf(() => loadInventory(ini, { env }))).message).toBe(
      `${join(ini, 'hosts')}:4: group db: ansible_become_user: "postgres" is not supported: rigger becomes root only (remove it, or set root)`,
    );
    const yaml = tmpInventory({ 'hosts.yml': 'all:\n  children:\n    db:\n      hosts:\n        pg1: { ansible_password: hunter2 }\n' });
    const ey = await errorOf(() => loadInventory(yaml, { env }));
    expect(ey.message).toContain(`${join(yaml, 'hosts.yml')}: host pg1: ansible_password: not supported`);
    expect(ey.message).not.toContain('hunter2');
    const files = tmpInventory({
      hosts: '[db]\npg1\n',
      'group_vars/db.yml': 'ansible_ssh_common_args: "-C -o ProxyJump=bastion"\n',
      'host_vars/pg1.yml': 'ansible_become_pass: x\n',
    });
    const ef = await errorOf(() => loadInventory(files, { env }));
    expect(ef.message).toContain(`${join(files, 'group_vars', 'db.yml')}: group db: ansible_ssh_common_args: not supported`);
    expect(ef.message).toContain(`${join(files, 'host_vars', 'pg1.yml')}: host pg1: ansible_become_pass: not supported`);
  });

  it('ansible_ssh_common_args holding only a ProxyJump maps to the connection (-o ProxyJump=, -J)', async () => {
    const dir = tmpInventory({
      hosts: "[db]\npg1 ansible_ssh_common_args='-o ProxyJump=admin@bastion:2222'\npg2 ansible_ssh_common_args='-J bastion'\n",
    });
    const inv = await loadInventory(dir, { env });
    expect(inv.hosts.get('pg1')!.connection.proxyJump).toEqual({ user: 'admin', address: 'bastion', port: 2222 });
    expect(inv.hosts.get('pg2')!.connection.proxyJump).toEqual({ address: 'bastion', port: 22 });
  });

  it('a proxyJump in our form is parsed, and a malformed one refused naming file, host and field', async () => {
    const ok = tmpInventory({ 'hosts.yml': 'connection: { proxyJump: "ops@jump.example:2200" }\nhosts:\n  pg1: {}\n' });
    expect((await loadInventory(ok, { env })).hosts.get('pg1')!.connection.proxyJump).toEqual({ user: 'ops', address: 'jump.example', port: 2200 });
    const bad = tmpInventory({ 'hosts.yml': 'hosts:\n  pg1: { proxyJump: "a b" }\n' });
    const e = await errorOf(() => loadInventory(bad, { env }));
    expect(e.message).toBe(`${join(bad, 'hosts.yml')}: host pg1: proxyJump: expected [user@]host[:port] (one jump host)`);
  });

  it('honoured vars, become_user root, become_method sudo and python_interpreter load', async () => {
    const dir = tmpInventory({
      hosts:
        '[db]\npg1 ansible_host=198.51.100.1 ansible_port=2222 ansible_user=admin ansible_become=yes ansible_become_user=root ansible_become_method=sudo ansible_python_interpreter=/usr/bin/python3 ansible_connection=ssh ansible_timeout=5\n',
    });
    const inv = await loadInventory(dir, { env });
    expect(inv.hosts.get('pg1')!.connection).toMatchObject({ address: '198.51.100.1', port: 2222, user: 'admin', become: true, connectTimeoutMs: 5000, transport: 'ssh' });
    expect(inv.hosts.get('pg1')!.vars).toEqual({});
  });
});
