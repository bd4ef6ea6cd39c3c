-- examples/orders_nested against the examples' API and PostgreSQL: orders
-- and their line items into two tables in one transaction.
local testenv = dofile("tests/lib/testenv.lua")
local examples_fixture = dofile("tests/lib/examples_fixture.lua")

describe("examples/orders_nested", function()
  local api, dsn

  setup(function()
    api = examples_fixture.start()
    dsn = testenv.fresh_db("example_orders")
  end)
  teardown(function() api.stop() end)

  before_each(function()
    testenv.psql(dsn, "DROP TABLE IF EXISTS order_lines, orders, etl_rejects")
  end)

  local function run(query)
    return testenv.salesengine({ "examples/orders_nested/pipeline.lua" }, { env = {
      ORDERS_API_URL = api.url .. "/orders?" .. query, WAREHOUSE_DSN = dsn } })
  end

  -- Lines of order k in the API: 1 + k % 3.
  local function line_count(first, last, skip)
    local n = 0
    for k = first, last do
      if k ~= skip then n = n + 1 + k % 3 end
    end
    return n
  end

  it("loads every order and all of its lines", function()
    local r = run("total=120&size=40")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("120|" .. line_count(1, 120) .. "\n", testenv.psql(dsn,
      "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)"))
    assert.are.equal("0\n", testenv.psql(dsn, [[SELECT count(*) FROM orders o
      WHERE line_count <> (SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id)]]))
    -- order 1005 (k = 5): customer C6, 3 lines; line 2 is SKU-0038 (5 * 7 + 2) % 90 + 1, qty 4, 11.67
    assert.are.equal("C6|Customer 6|3\n", testenv.psql(dsn,
      "SELECT customer_id, customer_name, line_count FROM orders WHERE order_id = 1005"))
    assert.are.equal("SKU-0038|4|11.67\n", testenv.psql(dsn,
      "SELECT sku, qty, unit_price FROM order_lines WHERE order_id = 1005 AND line_no = 2"))
  end)

  it("sets aside an invalid order with none of its lines", function()
    local r = run("total=120&size=40&bad=77")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("119|" .. line_count(1, 120, 77) .. "\n", testenv.psql(dsn,
      "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)"))
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM order_lines WHERE order_id = 1077"))
    assert.are.equal("1077|placed_at\n", testenv.psql(dsn, "SELECT record_key, field FROM etl_rejects"))
  end)
end)
