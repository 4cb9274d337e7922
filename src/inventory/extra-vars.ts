/**
 * `-e key.path=value`: vars from the command line, over everything the inventory says (as
 * Ansible's extra vars). Values are YAML scalars or flow collections (`3`, `true`, `[a, b]`);
 * a dotted key sets one field of a role's vars (`-e rollout.candidate=pg3`). A secret never
 * goes on a command line (it would show in `ps`): such keys are refused.
 */
import { parse } from 'yaml';
import { deepMerge } from '../core/merge.ts';
import { InputError } from '../core/errors.ts';
import type { Inventory } from './types.ts';

const KEY = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const SECRET_LIKE = /pass|secret|token|credential|private|apikey|api_key/i;

const ORIGIN = '--extra-vars';

export function parseExtraVar(arg: string): Record<string, unknown> {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new InputError([`-e ${JSON.stringify(arg)}: expected KEY=VALUE (e.g. -e rollout.candidate=pg3)`]);
  const key = arg.slice(0, eq);
  if (!KEY.test(key)) throw new InputError([`-e ${key}: a key is names joined by dots (letters, digits, _)`]);
  if (SECRET_LIKE.test(key)) throw new InputError([`-e ${key}: secrets never go on a command line (they show in ps); set it in the inventory as { secret: { env: NAME } } or { secret: { file: PATH } }`]);
  let value: unknown;
  try {
    value = parse(arg.slice(eq + 1), { version: '1.2' }) as unknown;
  } catch (e) {
    throw new InputError([`-e ${key}: not a YAML value: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`]);
  }
  return key.split('.').reduceRight<Record<string, unknown>>((inner, k, i, all) => (i === all.length - 1 ? { [k]: value } : { [k]: inner }), {});
}

/** Merges the extra vars over every host's vars (objects key by key; scalars and lists replace). */
export function applyExtraVars(inv: Inventory, args: string[]): void {
  const extras = args.map(parseExtraVar);
  for (const host of inv.hosts.values()) {
    for (const extra of extras) {
      host.vars = deepMerge(host.vars, extra) as typeof host.vars;
      // The inventory may still hold the rest of that key: an error names both places.
      for (const top of Object.keys(extra)) {
        const before = host.origins[top];
        if (before === undefined) host.origins[top] = ORIGIN;
        else if (before !== ORIGIN && !before.endsWith(` + ${ORIGIN}`)) host.origins[top] = `${before} + ${ORIGIN}`;
      }
    }
  }
}
