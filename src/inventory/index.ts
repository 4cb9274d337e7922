/** The inventory layer's public surface. */
export { loadInventory, type LoadOptions } from './load.ts';
export { selectHosts } from './pattern.ts';
export { renderInventory, type RenderOptions } from './show.ts';
export { InventoryError, type InventoryProblem } from './errors.ts';
export { defineInventory, type InventoryInput, type DefinedInventory } from './define.ts';
export type { Inventory, Host, Group, Connection, Vars } from './types.ts';
