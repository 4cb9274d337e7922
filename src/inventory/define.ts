/**
 * The TypeScript inventory form: `export default defineInventory({ ... })` in inventory.ts.
 * The same shape as hosts.yml, checked by tsc; vars may hold `new Secret(...)` directly.
 */
import type { InventoryInput } from './schema.ts';

export type { InventoryInput } from './schema.ts';

export interface DefinedInventory {
  readonly kind: 'inventory';
  readonly definition: InventoryInput;
}

export function defineInventory(definition: InventoryInput): DefinedInventory {
  return { kind: 'inventory', definition };
}

export function isDefinedInventory(v: unknown): v is DefinedInventory {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'inventory' && 'definition' in v;
}
