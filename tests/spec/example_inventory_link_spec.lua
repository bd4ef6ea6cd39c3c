-- examples/inventory_link offline: Link-header pagination into a table with
-- a composite key, with the salesengine.testing fakes.
local testing = require "salesengine.testing"

local URL = "http://inventory.test/inventory"

local function item(w, sku, n, at)
  return { warehouse = w, sku = sku, on_hand = n, counted_at = at or "2026-03-01T08:00:00Z" }
end

describe("examples/inventory_link", function()
  local function run(routes, db)
    return testing.run_script("examples/inventory_link/pipeline.lua", {
      env = { INVENTORY_API_URL = URL, WAREHOUSE_DSN = "fake" }, http = testing.fake_http(routes), pg = db })
  end

  it("follows Link headers to the last page and keys rows by (warehouse, sku)", function()
    local db = testing.fake_pg()
    local r = run({
      [URL] = { json = { item("w1", "A", 1), item("w2", "A", 2) },
        headers = { Link = '<' .. URL .. '?page=2>; rel="next"' } },
      [URL .. "?page=2"] = { json = { item(" w1 ", "B", 3) },
        headers = { link = '<' .. URL .. '?page=3>; rel="next", <' .. URL .. '>; rel="first"' } },
      [URL .. "?page=3"] = { json = { item("W2", "A", 5, "2026-03-02") } }, -- updates (W2, A)
    }, db)
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(3, #db:rows("inventory"))
    assert.are.same({ warehouse = "W1", sku = "A", on_hand = 1, counted_at = "2026-03-01T08:00:00+00:00",
      loaded_at = "now()" }, db:row("inventory", { "warehouse", "sku" }, { "W1", "A" }))
    assert.are.same(5, db:row("inventory", { "warehouse", "sku" }, { "W2", "A" }).on_hand)
    assert.are.same("2026-03-02T00:00:00+00:00", db:row("inventory", { "warehouse", "sku" }, { "W2", "A" }).counted_at)
    assert.are.equal(3, r.log.find("pipeline complete").fields.pages)
  end)

  it("rejects a record with an impossible date, naming its composite key", function()
    local db = testing.fake_pg()
    local r = run({ [URL] = { json = { item("W1", "A", 1), item("W1", "B", 2, "2026-02-30T10:00:00Z") } } }, db)
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(1, #db:rows("inventory"))
    local rej = db:rows("etl_rejects")[1]
    assert.are.same({ "W1/B", "counted_at" }, { rej.record_key, rej.field })
  end)
end)
