-- Issue 15: the analyst's loop against the real binary, the fixture API and
-- PostgreSQL. Each mistake a new analyst makes is loud — the exit code, the
-- message naming what is wrong — and a run never "succeeds" on it.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")

-- An orders pipeline over the fixture's cursor pages (10 records, 3 a page:
-- {"data": [{"id": k}, ...], "meta": {"next_cursor": C or null}}); fields of
-- `o` replace the parts shown (Lua source text).
local function pipeline(o)
  o = o or {}
  return table.concat({
    'local se = require "salesengine"',
    'local etl = require "salesengine.etl"',
    'local paginate = require "salesengine.paginate"',
    o.prelude or "",
    "etl.run {",
    '  name = "orders",',
    '  source = paginate.cursor { url = se.getenv("API_URL") .. "/pages/cursor", query = { total = 10, size = 3 },',
    "    items = " .. (o.items or '"data"') .. ", cursor = " .. (o.cursor or '"meta.next_cursor"') .. " },",
    "  transform = " .. (o.transform or "function(rec) return { id = rec.id } end") .. ",",
    "  sink = " .. (o.sink or '{ table = "orders", key = { "id" } }') .. ",",
    '  setup = "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY)",',
    '  db = se.getenv("WAREHOUSE_DSN"),',
    o.extra or "",
    "}",
  }, "\n") .. "\n"
end

describe("the analyst's loop (issue 15)", function()
  local dir, api, dsn

  setup(function()
    dir = testenv.tmpdir()
    api = api_fixture.start()
    dsn = testenv.fresh_db("analyst_loop")
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(dir)
  end)

  before_each(function()
    testenv.psql(dsn, "DROP TABLE IF EXISTS orders, etl_rejects")
  end)

  -- Writes the files {name = text} into a fresh folder and runs its
  -- pipeline.lua with args before it and env added.
  local function run(files, args, env)
    local d = testenv.tmpdir()
    for name, text in pairs(files) do
      testenv.write_file(d .. "/" .. name, text)
    end
    local argv = {}
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = d .. "/pipeline.lua"
    local e = { API_URL = api.url, WAREHOUSE_DSN = dsn }
    for k, v in pairs(env or {}) do e[k] = v end
    local r = testenv.salesengine(argv, { env = e, timeout = 60 })
    r.dir = d
    return r
  end

  -- How many rows orders holds; "-1\n" when the table was never made (nothing committed).
  local function loaded()
    if testenv.psql(dsn, "SELECT to_regclass('orders') IS NULL") == "t\n" then
      return "-1\n"
    end
    return testenv.psql(dsn, "SELECT count(*) FROM orders")
  end

  it("a correct pipeline loads the 10 orders (the baseline for the mistakes below)", function()
    local r = run({ ["pipeline.lua"] = pipeline() })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("10\n", loaded())
  end)

  describe("shape mistakes fail with exit 3, naming the path and what the page has", function()
    it("a wrong items path", function()
      local r = run({ ["pipeline.lua"] = pipeline({ items = '"orders"' }) })
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("salesengine: paginate.cursor: page 1 %(http://127.0.0.1:%d+/pages/cursor%?size=3&total=10%): " ..
        "items path 'orders' not found: the response has no member 'orders' %(it has: data, meta%)\n", r.stderr)
      assert.are.equal("-1\n", loaded())
    end)

    it("a wrong cursor path, after the first page: nothing is committed", function()
      local r = run({ ["pipeline.lua"] = pipeline({ cursor = '"nextCursor"' }) })
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("cursor path 'nextCursor' not found: the response has no member 'nextCursor' " ..
        "%(it has: data, meta%)\n", r.stderr)
      assert.are.equal("-1\n", loaded())
    end)

    it("a misspelt option of etl.run, of the sink or of the paginator, at the script's line", function()
      local cases = {
        { { extra = "  max_reject = 3," }, "pipeline.lua:5: bad argument #1 to 'run' " ..
          "(unknown option 'max_reject'); did you mean 'max_rejects'?" },
        { { sink = '{ table = "orders", key = { "id" }, colums = { "id" } }' }, "pipeline.lua:5: bad argument #1 to " ..
          "'run' (unknown option 'sink.colums'); did you mean 'sink.columns'?" },
        { { cursor = '"meta.next_cursor", curser = "x"' }, "pipeline.lua:7: bad argument #1 to 'cursor' " ..
          "(unknown option 'curser'); did you mean 'cursor'?" },
      }
      for _, c in ipairs(cases) do
        local r = run({ ["pipeline.lua"] = pipeline(c[1]) })
        assert.are.equal(1, r.code, r.stderr)
        assert.truthy(r.stderr:find("salesengine: " .. r.dir .. "/" .. c[2] .. "\n", 1, true), r.stderr)
        assert.are.equal("-1\n", loaded())
      end
    end)
  end)

  it("--summary-json tells every exit, never the previous run's success", function()
    local cases = {
      { {}, { WAREHOUSE_DSN = false }, 2, "usage", "environment variable WAREHOUSE_DSN is not set" },
      { { items = '"orders"' }, {}, 3, "extract", "items path 'orders' not found" },
      { {}, { WAREHOUSE_DSN = "host=127.0.0.1 port=1 connect_timeout=2" }, 4, "load", "could not connect" },
      { { transform = "function(rec) return { id = rec.id, x = nope(rec) } end" }, {}, 1, "script",
        "undefined global 'nope'" },
    }
    for _, c in ipairs(cases) do
      local path = dir .. "/summary.json"
      testenv.write_file(path, '{"status": "ok", "exit_code": 0}')
      local r = run({ ["pipeline.lua"] = pipeline(c[1]) }, { "--summary-json", path }, c[2])
      assert.are.equal(c[3], r.code, r.stderr)
      local s = require("cjson").decode(testenv.read_file(path))
      assert.are.same({ "failed", c[3], c[4] }, { s.status, s.exit_code, s.error.kind })
      assert.truthy(s.error.message:find(c[5], 1, true), s.error.message)
      assert.is_nil(s.error.message:find("stack traceback", 1, true))
    end
  end)

  it("--dry-run touches no database: WAREHOUSE_DSN unset, or naming a server that is down", function()
    for _, d in ipairs({ false, "host=127.0.0.1 port=1 connect_timeout=2" }) do
      local r = run({ ["pipeline.lua"] = pipeline() }, { "--dry-run" }, { WAREHOUSE_DSN = d })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches('msg="dry run: would load" rows=10 table=orders', r.stderr)
      if d == false then
        assert.matches('msg="dry run: WAREHOUSE_DSN is not set; no database is used"', r.stderr)
      end
    end
    assert.are.equal("-1\n", loaded())
  end)

  describe("a new column: sink.evolve", function()
    local function columns()
      return testenv.psql(dsn, "SELECT column_name || ' ' || data_type FROM information_schema.columns " ..
        "WHERE table_name = 'orders' ORDER BY ordinal_position")
    end
    local wide = "function(rec) return { id = rec.id, currency = 'EUR', amount = '12.50', paid = true, " ..
      "at = '2026-03-01T10:00:00+02:00', meta = { src = 'api' }, n = math.tointeger(rec.id) } end"

    it("freeze (the default) fails with exit 4, naming the column and the statement to run", function()
      testenv.psql(dsn, "CREATE TABLE orders (id bigint PRIMARY KEY)")
      local files = { ["pipeline.lua"] = pipeline({ transform = "function(rec) return { id = rec.id, " ..
        "currency = 'EUR' } end" }) }
      local r = run(files)
      assert.are.equal(4, r.code, r.stderr)
      assert.truthy(r.stderr:find('\nsalesengine: table orders has no column "currency", which the rows carry ' ..
        '(the sink\'s evolve is "freeze", the default). Add it with:\n  ALTER TABLE orders ADD COLUMN currency ' ..
        'text;\nor let the run add it: evolve = "add_columns" in the sink\n', 1, true), r.stderr)
      assert.are.equal("0\n", loaded())
      testenv.psql(dsn, "ALTER TABLE orders ADD COLUMN currency text") -- what the message says to run
      r = run(files)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("10|EUR\n", testenv.psql(dsn, "SELECT count(*), min(currency) FROM orders"))
    end)

    it("add_columns adds them in the run's transaction, typed from the values or from `types`", function()
      local r = run({ ["pipeline.lua"] = pipeline({ transform = wide, sink = '{ table = "orders", key = { "id" }, ' ..
        'evolve = "add_columns", types = { currency = "varchar(3)" } }' }) })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("id bigint\namount numeric\nat timestamp with time zone\ncurrency character varying\n" ..
        "meta jsonb\nn bigint\npaid boolean\n", columns()) -- added in name order
      assert.matches('level=warn msg="added column" column=currency statement="ALTER TABLE orders ADD COLUMN IF ' ..
        'NOT EXISTS currency varchar%(3%)" table=orders type=varchar%(3%) type_from=types', r.stderr)
      assert.matches('msg="added column" column=amount statement="ALTER TABLE orders ADD COLUMN IF NOT EXISTS ' ..
        'amount numeric" table=orders type=numeric type_from=values', r.stderr)
      assert.are.equal("10|12.50|t|2026-03-01 08:00:00+00|api|10\n", testenv.psql(dsn, "SET TIME ZONE 'UTC'; " ..
        "SELECT count(*), min(amount), bool_and(paid), min(at), min(meta->>'src'), max(n) FROM orders"))
      -- the rows stop carrying them: the columns stay
      local adding = '{ table = "orders", key = { "id" }, evolve = "add_columns" }'
      r = run({ ["pipeline.lua"] = pipeline({ sink = adding }) })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("\ncurrency character varying\n", columns())
    end)

    it("a column added by a run that fails is rolled back with it", function()
      testenv.psql(dsn, "CREATE TABLE orders (id bigint PRIMARY KEY)")
      local r = run({ ["pipeline.lua"] = pipeline({ transform = wide, cursor = '"nextCursor"',
        extra = "batch_size = 2,", sink = '{ table = "orders", key = { "id" }, evolve = "add_columns" }' }) })
      assert.are.equal(3, r.code, r.stderr)
      assert.matches('msg="added column" column=currency', r.stderr)
      assert.are.equal("id bigint\n", columns())
    end)

    it("a declared type that differs from the column's is refused, with the statement that widens it", function()
      testenv.psql(dsn, "CREATE TABLE orders (id bigint PRIMARY KEY, qty integer)")
      local r = run({ ["pipeline.lua"] = pipeline({ transform = "function(rec) return { id = rec.id, qty = 1.5 } end",
        sink = '{ table = "orders", key = { "id" }, evolve = "add_columns", types = { qty = "numeric(10,2)" } }' }) })
      assert.are.equal(4, r.code, r.stderr)
      assert.truthy(r.stderr:find('\nsalesengine: table orders: column "qty" is integer in the table, the sink ' ..
        'declares numeric(10,2) (types.qty); a run never changes a column\'s type. To widen it, run:\n' ..
        '  ALTER TABLE orders ALTER COLUMN qty TYPE numeric(10,2);\n', 1, true), r.stderr)
      assert.are.equal("0\n", loaded())
    end)
  end)

  it("a line total computed exactly with tx.decimal_mul and tx.decimal_add loads to the cent", function()
    testenv.psql(dsn, "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(12,2))")
    local r = run({ ["pipeline.lua"] = pipeline({ prelude = 'local tx = require "salesengine.transform"',
      transform = "function(rec) return { id = rec.id, total = tx.decimal_add(tx.decimal_mul(rec.id, 0.1), " ..
        "'19.99', 2) } end" }) })
    assert.are.equal(0, r.code, r.stderr)
    -- 0.1 * k + 19.99 for k = 1..10: 5.50 + 199.90; as floats 0.1 * 3 would be 0.30000000000000004
    assert.are.equal("205.40|20.29\n", testenv.psql(dsn, "SELECT sum(total), max(total) FILTER (WHERE id = 3) " ..
      "FROM orders"))
  end)

  describe("a bug in transform.lua is a script error, bad data a reject", function()
    local function transform_module(body)
      return 'local M = {}\nfunction M.transform(rec)\n' .. body .. '\nend\nreturn M\n'
    end
    local with_module = { prelude = 'local t = require "transform"', transform = "t.transform",
      extra = "  max_rejects = 5," }

    it("an undefined global: exit 1 with the file and line and a traceback, nothing loaded, no rejects", function()
      for _, args in ipairs({ {}, { "--no-strict" } }) do
        local r = run({ ["pipeline.lua"] = pipeline(with_module),
          ["transform.lua"] = transform_module("  return { id = rec.id, x = undefined_helper_x(rec) }") }, args)
        assert.are.equal(1, r.code, r.stderr)
        local want = args[1] and "attempt to call a nil value (global 'undefined_helper_x')"
          or "undefined global 'undefined_helper_x'"
        assert.truthy(r.stderr:find("\nsalesengine: " .. r.dir .. "/transform.lua:3: " .. want .. "\n" ..
          "(in the transform: record 1 (id 1) hit it; a bug in the script, not bad data: nothing was loaded)\n" ..
          "stack traceback:\n", 1, true), r.stderr)
        assert.truthy(r.stderr:find(r.dir .. "/transform.lua:3: in function 'transform.transform'", 1, true),
          r.stderr)
        assert.are.equal("-1\n", loaded())
        assert.are.equal("t\n", testenv.psql(dsn, "SELECT to_regclass('etl_rejects') IS NULL"))
      end
    end)

    it("a record without the member indexed, after records that passed: a reject, the run goes on", function()
      local r = run({ ["pipeline.lua"] = pipeline(with_module), ["transform.lua"] = transform_module(
        "  if rec.id % 4 == 0 then return { id = rec.id, x = rec.nested.x } end\n  return { id = rec.id }") })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("8\n", loaded())
      assert.are.equal("4|attempt to index a nil value (field 'nested')\n8|attempt to index a nil value " ..
        "(field 'nested')\n", testenv.psql(dsn, "SELECT record_key, regexp_replace(reason, '^.*:3: ', '') " ..
        "FROM etl_rejects ORDER BY seq"))
    end)
  end)
end)
