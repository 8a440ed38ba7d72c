export { collectInventory, listInventoryScripts, INVENTORY_PREFIX, DEFAULT_INVENTORY_DIR, type InventoryAttribute, type CollectOptions } from './collect.js';
export { InventorySender, inventoryBody, INVENTORY_PATH, HASH_FILE } from './send.js';
