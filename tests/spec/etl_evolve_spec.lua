-- Issue 15, point 6: salesengine.etl_evolve, offline — the types a new
-- column gets from its values, and what each mode does with a column the
-- rows carry and the table lacks (a stand-in connection answers the catalog
-- queries; tests/integration/analyst_loop_spec.lua runs it on PostgreSQL).
local etl_evolve = require "salesengine.etl_evolve"
local etl_load = require "salesengine.etl_load"
local cjson = require "cjson"

-- A connection whose table `orders` (oid 42) has the columns {name -> type oid};
-- conn.executed lists the statements run.
local function conn_with(columns)
  local conn = { executed = {} }
  function conn.query(_, sql, a, b, c)
    if sql:find("pg_attribute", 1, true) then
      local rows = {}
      for name, oid in pairs(columns) do
        rows[#rows + 1] = { oid = 42, name = name, type_oid = oid }
      end
      return rows
    elseif sql:find("ADD COLUMN", 1, true) then
      return { { statement = string.format("ALTER TABLE orders ADD COLUMN %s %s", b, c) } }
    elseif sql:find("to_regtype", 1, true) then
      local oids = { numeric = 1700, text = 25, bigint = 20 }
      return { { oid = oids[a], statement = string.format("ALTER TABLE orders ALTER COLUMN %s TYPE %s", c, a) } }
    elseif sql:find("format_type", 1, true) then
      return { { t = "integer" } }
    end
    error("unexpected query " .. sql)
  end
  function conn:exec(sql)
    self.executed[#self.executed + 1] = sql
    return { command = "ALTER TABLE" }
  end
  return conn
end

local function entries(rows)
  local b = etl_load.batch(true)
  for i, row in ipairs(rows) do
    b.n, b.index[i], b.out[i] = i, i, row
  end
  return b
end

local function evolver(sink, logged)
  sink.name, sink.table = sink.name or "orders", sink.table or "orders"
  return etl_evolve.new(sink, function(level, msg, fields) logged[#logged + 1] = { level, msg, fields } end)
end

describe("etl_evolve", function()
  it("infers a column's type from its values", function()
    local cases = {
      { { "EUR", "USD" }, "text" }, { { "12.50", "-3.25" }, "numeric" }, { { 3, 4 }, "bigint" },
      { { 1.5, 2 }, "numeric" }, { { true, false }, "boolean" }, { { { a = 1 } }, "jsonb" },
      { { "2026-03-01T10:00:00+02:00", "2026-03-01 10:00:00Z" }, "timestamptz" },
      { { "2026-03-01" }, "text" }, { { "00123" }, "text" }, { { "12.50", "n/a" }, "text" },
      { { cjson.null, 7 }, "bigint" }, { { cjson.null }, "text" }, { {}, "text" }, { { true, 1 }, "text" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], etl_evolve.infer(c[1]), cjson.encode(c[1]))
    end
  end)

  it("freeze: fails naming the columns, with the statements to run; nothing is executed", function()
    local conn, logged = conn_with({ id = 20 }), {}
    local ev = evolver({}, logged)
    local ok, err, code = ev:check(entries({ { id = 1, currency = "EUR", amount = "1.50" } }),
      function() return conn end)
    assert.is_nil(ok)
    assert.are.equal("42703", code)
    assert.are.equal('table orders has no column "amount", "currency", which the rows carry (the sink\'s evolve is ' ..
      '"freeze", the default). Add them with:\n  ALTER TABLE orders ADD COLUMN amount numeric;\n  ALTER TABLE ' ..
      'orders ADD COLUMN currency text;\nor let the run add them: evolve = "add_columns" in the sink', err)
    assert.are.same({}, conn.executed)
  end)

  it("add_columns: adds each missing column once, logged; known columns cost nothing more", function()
    local conn, logged = conn_with({ id = 20 }), {}
    local ev = evolver({ evolve = "add_columns", types = { currency = "text" } }, logged)
    local frees = 0
    local function free()
      frees = frees + 1
      return conn
    end
    assert.is_true(ev:check(entries({ { id = 1 }, { id = 2, currency = "EUR", qty = 3 } }), free))
    assert.are.same({ "ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text",
      "ALTER TABLE orders ADD COLUMN IF NOT EXISTS qty bigint" }, conn.executed)
    assert.are.same({ "warn", "added column" }, { logged[1][1], logged[1][2] })
    assert.are.same({ "currency", "text", "types" }, { logged[1][3].column, logged[1][3].type, logged[1][3].type_from })
    assert.are.equal("values", logged[2][3].type_from)
    frees = 0
    assert.is_true(ev:check(entries({ { id = 3, currency = "USD", qty = 1 } }), free))
    assert.are.same({ 0, 2 }, { frees, #conn.executed }, "a batch of known columns needs the connection")
  end)

  it("checks a sink's listed columns once, and only those", function()
    local conn = conn_with({ id = 20, note = 25 })
    local ev = evolver({ columns = { "id", "note", "channel" } }, {})
    local ok, err = ev:check(entries({ { id = 1, extra = "not listed: not sent" } }), function() return conn end)
    assert.is_nil(ok)
    assert.matches('^table orders has no column "channel", which the rows carry', err)
  end)

  it("refuses a declared type that differs from the column's, in either mode", function()
    for _, mode in ipairs({ "freeze", "add_columns" }) do
      local conn = conn_with({ id = 20, qty = 23 })
      local ev = evolver({ evolve = mode, types = { qty = "numeric" } }, {})
      local ok, err, code = ev:check(entries({ { id = 1, qty = 1.5 } }), function() return conn end)
      assert.is_nil(ok)
      assert.are.equal("42804", code)
      assert.are.equal('table orders: column "qty" is integer in the table, the sink declares numeric (types.qty); ' ..
        "a run never changes a column's type. To widen it, run:\n  ALTER TABLE orders ALTER COLUMN qty TYPE numeric;",
        err)
    end
  end)

  it("leaves alone a table it cannot find (the upsert names it) and columns the rows stop carrying", function()
    local missing_table = { query = function() return { { oid = cjson.null } } end }
    assert.is_true(evolver({}, {}):check(entries({ { id = 1, x = 2 } }), function() return missing_table end))
    local conn = conn_with({ id = 20, old = 25 })
    assert.is_true(evolver({}, {}):check(entries({ { id = 1 } }), function() return conn end))
    assert.are.same({}, conn.executed)
  end)
end)
