-- Orders transform: one order with its line items in, rows for two tables
-- out: {orders = one row, order_lines = a list of rows}. The runner loads both
-- in the same transaction; if any of an order's rows is refused, the whole
-- order is set aside as a reject.
local tx = require "salesengine.transform"

local M = {}

function M.transform(order)
  local id = tx.integer(order.id, "id")
  local lines = {}
  for n, line in ipairs(tx.required(order, "lines")) do
    local field = "lines." .. n
    lines[n] = {
      order_id = id,
      line_no = n,
      sku = tx.trim(tx.required(line, "sku"), field .. ".sku"),
      qty = tx.integer(line.qty, field .. ".qty"),
      unit_price = tx.decimal(line.unit_price, 2, field .. ".unit_price"),
    }
  end
  return {
    orders = {
      order_id = id,
      customer_id = tx.required(order, "customer.id"),
      customer_name = tx.collapse_spaces(tx.get(order, "customer.name") or "", "customer.name"),
      placed_at = tx.iso_datetime(order.placed_at, "placed_at"),
      line_count = #lines,
    },
    order_lines = lines,
  }
end

return M
