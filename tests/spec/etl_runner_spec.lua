-- salesengine.etl offline, with the salesengine.testing fakes: counting,
-- rejects, isolation of refused rows, max_rejects, dry run, summary.
local testing = require "salesengine.testing"
local cjson = require "cjson"

-- n sale records, S1..Sn; amount i.
local function sales(n)
  local list = {}
  for i = 1, n do
    list[i] = { id = "S" .. i, amount = i, region = " emea " }
  end
  return list
end

local function to_row(rec)
  if type(rec.amount) ~= "number" then
    error({ field = "amount", message = "amount must be a number, got " .. tostring(rec.amount) }, 0)
  end
  return { sale_id = rec.id, revenue = rec.amount, region = rec.region:match("^%s*(.-)%s*$"):upper() }
end

local SINK = { table = "fact_sales", key = { "sale_id" }, columns = { "sale_id", "revenue", "region" } }

-- Runs etl.run(spec) with fakes; returns ok, summary-or-error, log.
local function run(spec, opts)
  opts = opts or {}
  local log = testing.capture_log()
  local restore = testing.install({ log = log, pg = opts.pg, sys = testing.fake_sys({ options = opts.options,
    isatty = opts.isatty }) })
  local etl = require "salesengine.etl"
  local full = { name = "t", db = "fake", sink = SINK, transform = to_row }
  for k, v in pairs(spec) do
    full[k] = v
  end
  if spec.sinks then
    full.sink = nil
  end
  local ok, res = pcall(etl.run, full)
  restore()
  return ok, res, log
end

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("salesengine.etl", function()
  local etl = require "salesengine.etl"

  it("streams pages, loads every row, counts and logs each stage", function()
    local db = testing.fake_pg()
    local sink = { table = "fact_sales", key = { "sale_id" }, batch_size = 1000 }
    local ok, s, log = run({ source = etl.records(sales(2500), 1000), batch_size = 700, sink = sink }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 3, 2500, 2500, 0, 0, true },
      { s.pages, s.extracted, s.loaded, s.skipped, s.rejected, s.identity_ok })
    assert.are.equal(2500, #db:rows("fact_sales"))
    assert.are.same({ sale_id = "S17", revenue = 17, region = "EMEA" }, db:row("fact_sales", { "sale_id" }, "S17"))
    assert.are.same({ rows = 2500, inserted = 2500, updated = 0, unchanged = 0, merged = 0 }, s.tables.fact_sales)
    assert.are.same({ "extracted", "transformed", "loaded", "pipeline complete" }, log.messages())
    assert.are.equal(2500, log.find("extracted").fields.records)
    assert.are.equal(2500, log.find("transformed").fields.rows)
    assert.are.equal("ok", log.find("pipeline complete").fields.identity)
    assert.are.equal(0, db.open_conns)
    -- one transaction for the run, a savepoint per load batch (the sink's batch_size: 3 of at most
    -- 1000 rows; the runner's batches of 700 are what the transform hands on at a time)
    local begins, savepoints = 0, 0
    for _, sql in ipairs(db.statements) do
      if sql == "BEGIN" then begins = begins + 1 end
      if sql:match("^SAVEPOINT") then savepoints = savepoints + 1 end
    end
    assert.are.same({ 1, 3 }, { begins, savepoints })
  end)

  it("counts records the transform skips", function()
    local db = testing.fake_pg()
    local ok, s = run({ source = etl.records(sales(10)), transform = function(r)
      if r.amount % 2 == 0 then return nil end
      return to_row(r)
    end }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 10, 5, 5, 0 }, { s.extracted, s.loaded, s.skipped, s.rejected })
    assert.are.equal(5, #db:rows("fact_sales"))
  end)

  it("sends one bad record among thousands to etl_rejects and loads all the others", function()
    local db = testing.fake_pg()
    local records = sales(3000)
    records[1234].amount = "12,5x"
    local ok, s, log = run({ source = etl.records(records, 500), max_rejects = 1 }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 3000, 2999, 0, 1, true }, { s.extracted, s.loaded, s.skipped, s.rejected, s.identity_ok })
    assert.are.equal(2999, #db:rows("fact_sales"))
    assert.is_nil(db:row("fact_sales", { "sale_id" }, "S1234"))
    local rejects = db:rows("etl_rejects")
    assert.are.equal(1, #rejects)
    local r = rejects[1]
    assert.are.equal("S1234", r.record_key)
    assert.are.equal("amount", r.field)
    assert.are.equal("transform", r.stage)
    assert.matches("12,5x", r.reason)
    assert.are.same(records[1234], cjson.decode(r.raw))
    assert.are.equal(s.run_id, r.run_id)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.rejected_at)
    local w = log.find("record rejected")
    assert.are.same({ 1234, "S1234", "amount" }, { w.fields.record, w.fields.key, w.fields.field })
    assert.are.equal("etl_rejects", log.find("pipeline complete").fields.rejects_to)
  end)

  it("fails with the rejects exit code once a count of max_rejects is exceeded, loading nothing", function()
    local db = testing.fake_pg()
    local records = sales(100)
    for _, i in ipairs({ 5, 10, 15 }) do records[i].amount = "bad" end
    local ok, err, log = run({ source = etl.records(records, 10), max_rejects = 2 }, { pg = db })
    assert.is_false(ok)
    assert.are.equal(5, err.exit_code)
    assert.are.equal("rejects", err.kind)
    assert.matches("too many rejects: 3 of 15 records %(max_rejects 2%); first: record 5 %(id S5%) is invalid",
      err.message)
    assert.are.equal(0, #db:rows("fact_sales")) -- rolled back
    assert.are.equal(3, #db:rows("etl_rejects")) -- the dead-letter survives the rollback
    assert.are.equal("failed", log.find("pipeline failed").fields.status)
  end)

  it("names rejected records by their key as the feed wrote it", function()
    local db = testing.fake_pg()
    local records = { { id = "007", amount = "x", region = "" }, { id = 42.0, amount = "x", region = "" },
      { ref = { no = 5 }, amount = "x", region = "" } }
    local ok = run({ source = etl.records(records), max_rejects = 3 }, { pg = db })
    assert.is_true(ok)
    local keys = {}
    for i, r in ipairs(db:rows("etl_rejects")) do keys[i] = tostring(r.record_key) end
    assert.are.same({ "007", "42", "nil" }, keys)
    db = testing.fake_pg()
    run({ source = etl.records(records), max_rejects = 3, key = "ref.no" }, { pg = db })
    assert.are.equal("5", db:rows("etl_rejects")[3].record_key)
  end)

  it("checks a fraction of max_rejects at the end of the run", function()
    local records = sales(200)
    records[7].amount = "bad"
    records[8].amount = "bad"
    local ok, s = run({ source = etl.records(records), max_rejects = "1%" }, { pg = testing.fake_pg() })
    assert.is_true(ok, tostring(s))
    assert.are.equal(2, s.rejected)
    local db = testing.fake_pg()
    records[9].amount = "bad"
    local ok2, err = run({ source = etl.records(records), max_rejects = 0.01 }, { pg = db })
    assert.is_false(ok2)
    assert.are.equal(5, err.exit_code)
    assert.matches("3 of 200 records %(max_rejects 1%%%)", err.message)
    assert.are.equal(0, #db:rows("fact_sales"))
  end)

  it("isolates a row the database refuses and loads the rest of its batch", function()
    local db = testing.fake_pg()
    db:refuse(function(_, row)
      if row.revenue == 777 then return "numeric field overflow", "22003" end
    end)
    local ok, s = run({ source = etl.records(sales(1000)), batch_size = 1000, max_rejects = 5 }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 1000, 999, 1, true }, { s.extracted, s.loaded, s.rejected, s.identity_ok })
    assert.are.equal(999, #db:rows("fact_sales"))
    local r = db:rows("etl_rejects")[1]
    assert.are.same({ "load", "S777", "22003" }, { r.stage, r.record_key, r.code })
    assert.matches("^fact_sales: numeric field overflow .*%[22003%]$", r.reason)
    assert.are.same(999, s.tables.fact_sales.inserted)
  end)

  it("fails the run on a database error that no single row causes", function()
    local db = testing.fake_pg()
    db:fail_upsert(nil, "server closed the connection unexpectedly", "08006")
    local ok, err = run({ source = etl.records(sales(10)) }, { pg = db })
    assert.is_false(ok)
    assert.are.same({ 4, "08006" }, { err.exit_code, err.code })
    assert.matches("server closed the connection", err.message)
    db = testing.fake_pg()
    db:fail_connect("could not connect to server", "08001")
    ok, err = run({ source = etl.records(sales(10)) }, { pg = db })
    assert.are.same({ false, 4, "08001" }, { ok, err.exit_code, err.code })
  end)

  it("fails with the extract exit code when the source fails; the database is reached first (issue 18)", function()
    local db = testing.fake_pg()
    local calls = 0
    local ok, err = run({ source = function()
      calls = calls + 1
      return nil, "GET http://api/sales failed after 3 attempts: HTTP 503", "HTTP_503"
    end }, { pg = db })
    assert.is_false(ok)
    assert.are.same({ 3, "HTTP_503", 1, 1 }, { err.exit_code, err.code, calls, db.connects })
  end)

  it("finds records at a path in each page and fails on a page without them", function()
    local db = testing.fake_pg()
    local ok, s = run({ source = etl.pages({ { sales = sales(3) }, { sales = {} } }), records = "sales" }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 2, 3 }, { s.pages, s.loaded })
    local ok2, err = run({ source = etl.pages({ { data = {} } }), records = "sales" }, { pg = testing.fake_pg() })
    assert.is_false(ok2)
    assert.are.equal(3, err.exit_code)
    assert.matches('page 1 has no "sales" array', err.message)
  end)

  it("writes nothing at all in a dry run, and reports what it would load", function()
    local db = testing.fake_pg()
    local records = sales(50)
    records[3].amount = "bad"
    local ok, s, log = run({ source = etl.records(records), max_rejects = 1 },
      { pg = db, options = { dry_run = true } })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 0, 0, 0 }, { db.connects, db.writes, #db.statements })
    assert.are.same({ true, 49, 1, 49 }, { s.dry_run, s.loaded, s.rejected, s.tables.fact_sales.rows })
    assert.are.equal(49, log.find("dry run: would load").fields.rows)
    local samples = 0
    for _, e in ipairs(log.entries) do
      if e.msg == "dry run: sample row" then
        samples = samples + 1
        assert.are.equal("fact_sales", e.fields.table)
        assert.is_table(cjson.decode(e.fields.row))
      end
    end
    assert.are.equal(3, samples)
    assert.is_true(log.find("pipeline complete").fields.dry_run)
  end)

  it("writes rejects to a JSON Lines file with the raw record", function()
    local path = tmpname()
    local records = sales(20)
    records[4].amount = { 1, 2 }
    records[9].amount = "x"
    local ok, s = run({ source = etl.records(records), max_rejects = 2, rejects = { file = path } },
      { pg = testing.fake_pg() })
    assert.is_true(ok, tostring(s))
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = cjson.decode(line) end
    os.remove(path)
    assert.are.equal(2, #lines)
    assert.are.same({ "S4", "amount", 1, records[4] },
      { lines[1].record_key, lines[1].field, lines[1].seq, lines[1].raw })
    assert.are.same({ "S9", 2 }, { lines[2].record_key, lines[2].seq })
    assert.are.equal(path, s.rejects.destination)
  end)

  it("writes --summary-json with the counts", function()
    local path = tmpname()
    local ok, s = run({ source = etl.records(sales(30)) },
      { pg = testing.fake_pg(), options = { summary_json = path } })
    assert.is_true(ok, tostring(s))
    local f = assert(io.open(path))
    local j = cjson.decode(f:read("a"))
    f:close()
    os.remove(path)
    assert.are.same({ "ok", 0, 30, 30, 0, 0, true }, { j.status, j.exit_code, j.extracted, j.loaded, j.skipped,
      j.rejected, j.identity_ok })
    assert.are.same({ rows = 30, inserted = 30, updated = 0, unchanged = 0, merged = 0 }, j.tables.fact_sales)
    assert.is_number(j.timings.total_s)
  end)

  it("writes the summary of a failed run too", function()
    local path = tmpname()
    local records = sales(5)
    records[2].amount = "bad"
    local ok = run({ source = etl.records(records), max_rejects = 0 },
      { pg = testing.fake_pg(), options = { summary_json = path } })
    assert.is_false(ok)
    local f = assert(io.open(path))
    local j = cjson.decode(f:read("a"))
    f:close()
    os.remove(path)
    assert.are.same({ "failed", 5, "rejects", false }, { j.status, j.exit_code, j.error.kind, j.committed })
  end)

  it("loads nested records into several tables, rejecting a record as a whole", function()
    local db = testing.fake_pg()
    db:refuse(function(tbl, row)
      if tbl == "order_lines" and row.qty < 0 then return "new row violates check constraint", "23514" end
    end)
    local orders = {}
    for i = 1, 40 do
      orders[i] = { id = i, lines = { { sku = "A", qty = 1 }, { sku = "B", qty = (i == 13) and -1 or 2 } } }
    end
    local ok, s = run({
      source = etl.records(orders, 15), max_rejects = 1,
      sinks = {
        { name = "orders", table = "orders", key = { "order_id" } },
        { name = "lines", table = "order_lines", key = { "order_id", "line_no" } },
      },
      transform = function(o)
        local lines = {}
        for n, l in ipairs(o.lines) do
          lines[n] = { order_id = o.id, line_no = n, sku = l.sku, qty = l.qty }
        end
        return { orders = { order_id = o.id }, lines = lines }
      end,
    }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 40, 39, 1 }, { s.extracted, s.loaded, s.rejected })
    assert.are.equal(39, #db:rows("orders"))
    assert.are.equal(78, #db:rows("order_lines"))
    assert.is_nil(db:row("orders", { "order_id" }, 13))
    assert.are.same({ "13", "23514" }, { db:rows("etl_rejects")[1].record_key, db:rows("etl_rejects")[1].code })
  end)

  it("counts the rows merged into an earlier one and warns when a child's key repeats within one parent", function()
    local db = testing.fake_pg()
    local orders = {}
    for i = 1, 20 do
      local second = i == 7 and "SKU-G" or "SKU-H" -- order 7 has two SKU-G lines
      orders[i] = { id = i, lines = { { sku = "SKU-G", qty = 1 }, { sku = second, qty = 2 } } }
    end
    orders[21] = { id = 3, lines = {} } -- order 3 again, in another batch: an ordinary update
    local ok, s, log = run({
      source = etl.records(orders, 10), batch_size = 10,
      sinks = {
        { name = "orders", table = "orders", key = { "order_id" } },
        { name = "lines", table = "order_lines", key = { "order_id", "sku" } },
      },
      transform = function(o)
        local lines = {}
        for n, l in ipairs(o.lines) do
          lines[n] = { order_id = o.id, sku = l.sku, qty = l.qty }
        end
        return { orders = { order_id = o.id }, lines = lines }
      end,
    }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ 0, 1 }, { s.tables.orders.merged, s.tables.order_lines.merged })
    assert.are.same({ 39, 1 }, { s.tables.order_lines.rows - s.tables.order_lines.merged,
      s.tables.order_lines.merged })
    local lines_log
    for _, e in ipairs(log.entries) do
      if e.msg == "loaded" and e.fields.table == "order_lines" then lines_log = e end
    end
    assert.are.equal(1, lines_log.fields.merged)
    local warn = log.find("a key repeats within one record's rows; they were merged into one row")
    assert.are.same({ "warn", "order_lines", 1 }, { warn.level, warn.fields.table, warn.fields.records })
  end)

  it("commits every batch when asked", function()
    local db = testing.fake_pg()
    local ok, s = run({ source = etl.records(sales(30), 10), batch_size = 10, commit = "batch" }, { pg = db })
    assert.is_true(ok, tostring(s))
    local commits = 0
    for _, sql in ipairs(db.statements) do
      if sql == "COMMIT" then commits = commits + 1 end
    end
    assert.are.equal(4, commits) -- three batches, then the empty transaction at the end
  end)

  it("calls on_loaded with each batch's loaded records and before_commit inside the transaction", function()
    local db = testing.fake_pg()
    db:refuse(function(_, row) if row.revenue == 4 then return "out of range", "22003" end end)
    local seen, high = {}, nil
    local ok, s = run({
      source = etl.records(sales(10), 5), batch_size = 5, commit = "batch", max_rejects = 1,
      on_loaded = function(records)
        local ids = {}
        for i, r in ipairs(records) do ids[i] = r.id; high = r.amount end
        seen[#seen + 1] = table.concat(ids, ",")
      end,
      before_commit = function(conn)
        return conn:upsert("etl_state", { { pipeline = "t", cursor = high } }, { key = { "pipeline" } })
      end,
    }, { pg = db })
    assert.is_true(ok, tostring(s))
    assert.are.same({ "S1,S2,S3,S5", "S6,S7,S8,S9,S10" }, seen)
    assert.are.equal(10, db:rows("etl_state")[1].cursor)

    -- a failing before_commit fails the run and rolls the batch back with it
    db = testing.fake_pg()
    local ok2, err = run({ source = etl.records(sales(3)), before_commit = function()
      return nil, "state table is locked", "55P03"
    end }, { pg = db })
    assert.is_false(ok2)
    assert.are.same({ 4, "55P03" }, { err.exit_code, err.code })
    assert.matches("before_commit: state table is locked", err.message)
    assert.are.equal(0, #db:rows("fact_sales"))
  end)

  it("raises for mistakes in the pipeline definition, in Lua's misuse form at the caller's line", function()
    local ok0, err0 = pcall(function() etl.run({ name = "x" }) end)
    assert.is_false(ok0)
    assert.matches("^[^:]*etl_runner_spec%.lua:%d+: bad argument #1 to 'run' %(option 'source': a function " ..
      "returning pages expected, got no value%)$", err0)
    local cases = {
      { { name = "x", source = etl.pages({}), sink = SINK, sinks = { SINK } },
        "(give exactly one of the options 'sink' and 'sinks')" },
      { { name = "", source = etl.pages({}), sink = SINK }, "(option 'name': a non-empty string expected, got '')" },
      { { name = "x", source = etl.pages({}), sink = { table = 1 } },
        "(option 'sink.table': a table name expected, got number)" },
      { { name = "x", source = etl.pages({}), sinks = { SINK, { table = "t", evolve = "grow" } } },
        "(option 'sinks[2].evolve': \"freeze\" or \"add_columns\" expected, got grow)" },
      { { name = "x", source = etl.pages({}), sink = { table = "t", key = "id", copy_new_keys = "no" } },
        "(option 'sink.copy_new_keys': boolean expected, got string)" },
      { { name = "x", source = etl.pages({}), sink = { table = "t", key = "id", copy_binary = 1 } },
        "(option 'sink.copy_binary': boolean expected, got number)" },
      { { name = "x", source = etl.pages({}), sink = SINK, commit = "page" },
        "(option 'commit': \"run\" or \"batch\" expected, got page)" },
      { { name = "x", source = etl.pages({}), sink = SINK, transform = 1 },
        "(option 'transform': function expected, got number)" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(etl.run, c[1])
      assert.is_false(ok)
      assert.are.equal("bad argument #1 to 'run' " .. c[2], err)
    end
    local ok, err = run({ source = etl.pages({}), max_rejects = -1 })
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'run' %(option 'max_rejects': a count", err)
  end)
end)
