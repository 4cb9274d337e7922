import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { renderInventory } from '../../src/inventory/show.ts';
import { MASK, isSecret } from '../../src/core/secret.ts';
import { FIXTURES, cleanupTmp, errorOf, tmpInventory } from './support.ts';

afterAll(cleanupTmp);

const FROM_ENV = 'env-secret-value-41';
const FROM_FILE = 'file-secret-value-42';
const INLINE = 'inline-secret-value-43';
const PLAIN = 'plain-secret-value-44';
const NESTED = 'nested-secret-value-45';
const LISTED = 'listed-secret-value-46';

function secretInventory(): string {
  return tmpInventory({
    'hosts.yml': `
vars:
  pg_superuser_password: { secret: { env: PG_SUPER } }
  repl: { secret: { file: secrets/repl } }
  lab_only: { secret: { value: ${INLINE} } }
  admin_password: ${PLAIN}
  patroni: { restapi: { auth: { password: ${NESTED} } }, ttl: 30 }
  api_tokens: [${LISTED}]
hosts:
  pg1: { address: 10.213.7.11 }
groups:
  postgres: { hosts: [pg1] }
`,
    'secrets/repl': [`${FROM_FILE}\n`, 0o600],
  });
}

const ALL_VALUES = [FROM_ENV, FROM_FILE, INLINE, PLAIN, NESTED, LISTED];

describe('secrets in inventory vars', () => {
  it('come from env, a 0600 file (trailing newline trimmed) or inline, and sensitive keys are wrapped', async () => {
    const inv = await loadInventory(secretInventory(), { env: { PG_SUPER: FROM_ENV } });
    const v = inv.hosts.get('pg1')!.vars;
    const reveal = (x: unknown) => (isSecret(x) ? x.reveal() : `not a secret: ${String(x)}`);
    expect(reveal(v.pg_superuser_password)).toBe(FROM_ENV);
    expect(reveal(v.repl)).toBe(FROM_FILE);
    expect(reveal(v.lab_only)).toBe(INLINE);
    expect(reveal(v.admin_password)).toBe(PLAIN);
    const patroni = v.patroni as { restapi: { auth: { password: unknown } }; ttl: unknown };
    expect(reveal(patroni.restapi.auth.password)).toBe(NESTED);
    expect(patroni.ttl).toBe(30);
    expect(reveal((v.api_tokens as unknown[])[0])).toBe(LISTED);
  });

  it('never appear in renderInventory text or JSON', async () => {
    const inv = await loadInventory(secretInventory(), { env: { PG_SUPER: FROM_ENV } });
    const text = renderInventory(inv, { json: false });
    const json = renderInventory(inv, { json: true });
    for (const s of ALL_VALUES) {
      expect(text).not.toContain(s);
      expect(json).not.toContain(s);
    }
    expect(text).toContain(`pg_superuser_password: "${MASK}"`);
    const parsed = JSON.parse(json) as { hosts: Array<{ vars: Record<string, unknown> }> };
    expect(parsed.hosts[0]!.vars.repl).toBe(MASK);
    expect(parsed.hosts[0]!.vars.patroni).toEqual({ restapi: { auth: { password: MASK } }, ttl: 30 });
  });

  it('a missing env var names file, host, field and variable', async () => {
    const dir = tmpInventory({ 'hosts.yml': 'hosts:\n  pg1: { vars: { db: { password: { secret: { env: NOPE_PW } } } } }\n' });
    const e = await errorOf(() => loadInventory(dir, { env: {} }));
    expect(e.message).toBe(`${join(dir, 'hosts.yml')}: host pg1: vars.db.password.secret: environment variable NOPE_PW is not set`);
  });

  it('an empty env var is refused', async () => {
    const dir = tmpInventory({ 'hosts.yml': 'hosts: { pg1: {} }\ngroups:\n  g: { hosts: [pg1], vars: { pw: { secret: { env: EMPTY_PW } } } }\n' });
    const e = await errorOf(() => loadInventory(dir, { env: { EMPTY_PW: '' } }));
    expect(e.message).toBe(`${join(dir, 'hosts.yml')}: group g: vars.pw.secret: environment variable EMPTY_PW is empty`);
  });

  it('a secret file readable by group/other is refused, without printing its content', async () => {
    const dir = tmpInventory({
      'hosts.yml': 'hosts: { pg1: {} }\n',
      'group_vars/all.yml': 'pw: { secret: { file: pw.txt } }\n',
      'pw.txt': ['open-secret-value-47\n', 0o644],
    });
    const e = await errorOf(() => loadInventory(dir));
    expect(e.message).toBe(
      `${join(dir, 'group_vars/all.yml')}: pw.secret: secret file ${join(dir, 'pw.txt')} is readable by group/other (mode 0644): run chmod 600 ${join(dir, 'pw.txt')}`,
    );
    expect(e.message).not.toContain('open-secret-value-47');
  });

  it('a missing secret file is named', async () => {
    const dir = tmpInventory({ 'hosts.yml': 'hosts: { pg1: {} }\n', 'host_vars/pg1.yml': 'pw: { secret: { file: ~/nope.txt } }\n' });
    const e = await errorOf(() => loadInventory(dir, { env: { HOME: '/nonexistent-home' } }));
    expect(e.message).toBe(`${join(dir, 'host_vars/pg1.yml')}: host pg1: pw.secret: secret file /nonexistent-home/nope.txt does not exist`);
  });

  it('a malformed reference says what is expected', async () => {
    const dir = tmpInventory({ 'hosts.yml': 'hosts:\n  pg1: { vars: { pw: { secret: { evn: X } } } }\n' });
    const e = await errorOf(() => loadInventory(dir));
    expect(e.message).toBe(`${join(dir, 'hosts.yml')}: host pg1: vars.pw.secret: expected exactly one of env, file, value; got evn`);
  });

  it('the fixture env secret resolves from the options env only', async () => {
    const inv = await loadInventory(join(FIXTURES, 'ours'), { env: { RIGGER_TEST_PG_SUPER: FROM_ENV } });
    expect(renderInventory(inv, { json: true })).not.toContain(FROM_ENV);
    expect(renderInventory(inv, { json: false })).not.toContain('plain-inline-pass-1');
  });
});
