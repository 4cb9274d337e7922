/**
 * Merging of vars layers, shared by the inventory (precedence, -e) and the engine (role
 * defaults < playbook `.with()` < inventory): objects merge key by key; arrays and scalars replace.
 */

export function deepMerge(base: unknown, over: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return over === undefined ? base : over;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}
