-- examples/inventory_link against the examples' API and PostgreSQL: Link
-- header pagination into a table with a composite key.
local testenv = dofile("tests/lib/testenv.lua")
local examples_fixture = dofile("tests/lib/examples_fixture.lua")

describe("examples/inventory_link", function()
  local api, dsn

  setup(function()
    api = examples_fixture.start()
    dsn = testenv.fresh_db("example_inventory")
  end)
  teardown(function() api.stop() end)

  local function run(query)
    return testenv.salesengine({ "examples/inventory_link/pipeline.lua" }, { env = {
      INVENTORY_API_URL = api.url .. "/inventory?" .. query, WAREHOUSE_DSN = dsn } })
  end

  it("follows every Link header and loads one row per (warehouse, sku)", function()
    local r = run("total=230&size=50")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("230|3|77\n", testenv.psql(dsn,
      "SELECT count(*), count(DISTINCT warehouse), count(DISTINCT sku) FROM inventory"))
    -- item 100: warehouse W1, SKU-0034, 100 * 37 % 500 on hand, counted 100 * 600 s after 2026-01-01
    assert.are.equal("W1|SKU-0034|200|2026-01-01 16:40:00+00\n", testenv.psql(dsn,
      "SET timezone = 'UTC'; SELECT warehouse, sku, on_hand, counted_at FROM inventory WHERE sku = 'SKU-0034' " ..
      "AND warehouse = 'W1'"))
    local pages = 0
    for _, e in ipairs(api.log()) do
      if e.path:match("^/inventory") then pages = pages + 1 end
    end
    assert.are.equal(5, pages)
    assert.matches("msg=\"pipeline complete\".*extracted=230 identity=ok.*loaded=230.*pages=5", r.stderr)
  end)

  it("rejects the one impossible date and updates the rest on a re-run", function()
    local r = run("total=230&size=50&bad=17")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("230\n", testenv.psql(dsn, "SELECT count(*) FROM inventory"))
    assert.are.equal("W2/SKU-0006|counted_at\n", testenv.psql(dsn,
      "SELECT record_key, field FROM etl_rejects"))
    assert.matches("loaded=229.*rejected=1", r.stderr)
  end)
end)
