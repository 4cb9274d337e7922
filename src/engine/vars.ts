/**
 * Role vars for one host: schema defaults < the playbook's `role.with()` < the inventory's
 * `host.vars[role.name]`. Validated before any connection; errors name file, host and field.
 */
import type { z } from 'zod';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Role } from './role.ts';
import { deepMerge } from '../core/merge.ts';



export type VarsResult = { ok: true; vars: unknown } | { ok: false; problems: string[] };

export function resolveRoleVars(role: Role, host: Host, inventory: Inventory): VarsResult {
  const fromInventory = host.vars[role.name];
  const raw = deepMerge(deepMerge({}, role.overrides), fromInventory ?? {});
  const parsed = (role.vars as z.ZodType).safeParse(raw);
  if (parsed.success) return { ok: true, vars: parsed.data };
  const where = host.origins[role.name] ?? inventory.source;
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      const path = [role.name, ...issue.path.map(String)].join('.');
      return `${where}: host ${host.name}: ${path}: ${issue.message}`;
    }),
  };
}
