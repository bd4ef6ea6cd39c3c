-- examples/orders_nested offline: orders with line items into two tables in
-- one transaction, with the salesengine.testing fakes.
local testing = require "salesengine.testing"

local URL = "http://orders.test/orders"

local function order(id, lines)
  local list = {}
  for i, qty in ipairs(lines) do
    list[i] = { sku = "SKU-" .. i, qty = qty, unit_price = "2.50" }
  end
  return { id = id, customer = { id = "C1", name = "  Ada   Lovelace " }, placed_at = "2026-04-01T09:30:00+02:00",
    lines = list }
end

describe("examples/orders_nested", function()
  local function run(routes, db)
    return testing.run_script("examples/orders_nested/pipeline.lua", {
      env = { ORDERS_API_URL = URL, WAREHOUSE_DSN = "fake" }, http = testing.fake_http(routes), pg = db })
  end

  it("loads orders and their lines, following the next URL", function()
    local db = testing.fake_pg()
    local r = run({
      [URL] = { json = { orders = { order(1, { 1, 2 }), order(2, { 3 }) }, next = URL .. "?page=2" } },
      [URL .. "?page=2"] = { json = { orders = { order(3, { 1, 1, 1 }) }, next = require("cjson").null } },
    }, db)
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(3, #db:rows("orders"))
    assert.are.equal(6, #db:rows("order_lines"))
    assert.are.same({ order_id = 1, customer_id = "C1", customer_name = "Ada Lovelace",
      placed_at = "2026-04-01T09:30:00+02:00", line_count = 2 }, db:row("orders", { "order_id" }, 1))
    assert.are.same({ order_id = 3, line_no = 2, sku = "SKU-2", qty = 1, unit_price = "2.50" },
      db:row("order_lines", { "order_id", "line_no" }, { 3, 2 }))
  end)

  it("sets aside a whole order when the database refuses one of its lines", function()
    local db = testing.fake_pg()
    db:refuse(function(tbl, row)
      if tbl == "order_lines" and row.qty <= 0 then
        return 'new row for relation "order_lines" violates check constraint "order_lines_qty_check"', "23514"
      end
    end)
    local orders = {}
    for id = 1, 60 do orders[id] = order(id, { 1, id == 42 and 0 or 2 }) end
    local r = run({ [URL] = { json = { orders = orders, next = require("cjson").null } } }, db)
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(59, #db:rows("orders"))
    assert.are.equal(118, #db:rows("order_lines"))
    assert.is_nil(db:row("orders", { "order_id" }, 42))
    local rej = db:rows("etl_rejects")[1]
    assert.are.same({ "load", "23514", "42" }, { rej.stage, rej.code, rej.record_key })
  end)
end)
