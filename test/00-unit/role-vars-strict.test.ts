/**
 * Every role's vars schema is strict at every level: an unknown key anywhere is an error
 * (a misspelled `patroni.dcs.tll` must not silently keep the default ttl). Walks each schema
 * through defaults, optionals, arrays, records and unions; a free map (record) is allowed
 * where the role documents one, its values still walked.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ChronyVarsSchema } from '../../roles/chrony/vars.ts';
import { EtcdVarsSchema } from '../../roles/etcd/vars.ts';
import { HaproxyVarsSchema } from '../../roles/haproxy/vars.ts';
import { KeepalivedVarsSchema } from '../../roles/keepalived/vars.ts';
import { PatroniVarsSchema } from '../../roles/patroni/vars.ts';
import { PgbackrestVarsSchema } from '../../roles/pgbackrest/vars.ts';
import { PostgresVarsSchema } from '../../roles/postgres/vars.ts';
import { SoftdogVarsSchema } from '../../roles/softdog/vars.ts';
import { keysAt } from '../../src/engine/vars.ts';

type Def = { type: string } & Record<string, unknown>;
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** Paths of object schemas that accept unknown keys. */
function looseObjects(schema: unknown, path: string, out: string[]): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      if (defOf(def.catchall ?? { _zod: { def: { type: 'none' } } }).type !== 'never') out.push(path || '(top)');
      for (const [k, v] of Object.entries(def.shape as Record<string, unknown>)) looseObjects(v, path ? `${path}.${k}` : k, out);
      break;
    }
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
      looseObjects(def.innerType, path, out);
      break;
    case 'pipe':
      looseObjects(def.in, path, out);
      looseObjects(def.out, path, out);
      break;
    case 'array':
      looseObjects(def.element, `${path}[]`, out);
      break;
    case 'record':
      looseObjects(def.valueType, `${path}.*`, out);
      break;
    case 'union':
      for (const o of def.options as unknown[]) looseObjects(o, path, out);
      break;
  }
  return out;
}

const SCHEMAS: Record<string, z.ZodType> = {
  chrony: ChronyVarsSchema,
  etcd: EtcdVarsSchema,
  haproxy: HaproxyVarsSchema,
  keepalived: KeepalivedVarsSchema,
  patroni: PatroniVarsSchema,
  pgbackrest: PgbackrestVarsSchema,
  postgres: PostgresVarsSchema,
  softdog: SoftdogVarsSchema,
};

describe('role vars schemas', () => {
  it.each(Object.keys(SCHEMAS))('%s: every object strict, nested ones included', (name) => {
    expect(looseObjects(SCHEMAS[name], '', [])).toEqual([]);
  });

  it('keysAt finds the keys a nested object accepts (for "did you mean")', () => {
    expect(keysAt(PatroniVarsSchema, ['dcs'])).toContain('ttl');
    expect(keysAt(PatroniVarsSchema, ['authentication', 'superuser'])).toEqual(['username', 'password']);
    expect(keysAt(ChronyVarsSchema, ['pools', 0])).toContain('maxsources');
    expect(keysAt(EtcdVarsSchema, [])).toContain('clientPort');
  });
});
