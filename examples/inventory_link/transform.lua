-- Inventory transform: one stock count in, one row of inventory out.
-- The key is (warehouse, sku): the same SKU is stocked in several warehouses.
local tx = require "salesengine.transform"

local M = {}

function M.transform(rec)
  return {
    warehouse = tx.upper(tx.trim(tx.required(rec, "warehouse"), "warehouse"), "warehouse"),
    sku = tx.trim(tx.required(rec, "sku"), "sku"),
    on_hand = tx.integer(rec.on_hand, "on_hand"),
    counted_at = tx.iso_datetime(rec.counted_at, "counted_at"),
  }
end

return M
