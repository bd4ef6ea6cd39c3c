-- The sales job and the etl runner against a real Citus 13.2 cluster (a
-- coordinator and 2 workers, tests/lib/citus.lua): a hash-distributed
-- fact_sales and a reference table load exactly as a plain table does (same
-- rows, same counts, refused rows isolated one by one, skip_unchanged
-- rewriting nothing); etl_rejects, etl_state and the run's lock live on the
-- coordinator; a key without the distribution column is refused naming it;
-- a worker stopped before or during a run fails the run with exit 4 naming
-- the node, leaves nothing half-committed, and a re-run once it is back
-- leaves the exact table; 2 partitions (--partition I/N) started at once
-- leave the one-process table, and a SIGKILLed one is completed by its re-run.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local citus_cluster = dofile("tests/lib/citus.lua")
local cjson = require "cjson"

local SALES, PER_PAGE = 1200, 100

-- SALES sales: every 50th repeats an earlier id with a new amount (within
-- its page), one has no id (a transform reject); versions change every
-- amount; in version 1 one has an
-- amount numeric(14, 2) cannot hold (refused by the server: a load reject,
-- isolated by halving its batch, which costs a Citus statement per half).
local function write_feed(dir, version)
  local items = {}
  for i = 1, SALES do
    local id = i % 50 == 0 and "S" .. (i - 7) or "S" .. i
    local amount = string.format("%d.%02d", i * version, i % 100)
    if i == 333 and version == 1 then
      amount = "1000000000000000"
    end
    items[i] = string.format('{"id":"%s","date":"2026-01-%02dT10:00:00Z","amount_usd":"%s","region":" %s "}',
      id, 1 + i % 28, amount, ({ "emea", "apac", "amer" })[1 + i % 3])
  end
  items[#items + 1] = '{"date":"2026-01-02T10:00:00Z","amount_usd":"1.00","region":"emea"}'
  testenv.write_file(dir .. "/v" .. version .. ".json", '{"sales":[' .. table.concat(items, ",") .. "]}")
end

local function table_lines(dsn, tbl)
  return testenv.psql(dsn, string.format([[SELECT sale_id, extract(epoch FROM sale_date)::bigint, revenue::text, region
    FROM %s ORDER BY sale_id COLLATE "C"]], tbl or "fact_sales"))
end

local function schema_sql()
  return testenv.read_file(testenv.root .. "/scripts/schema.sql")
end

describe("Citus targets", function()
  local citus, api, root, plain
  local skip_reason

  setup(function()
    local why
    citus, why = citus_cluster.start(2)
    if not citus then
      skip_reason = why
      return
    end
    -- a stopped worker is reported after 5 s, not Citus' default 30 s
    citus.psql("ALTER SYSTEM SET citus.node_connection_timeout = 5000")
    citus.psql("SELECT pg_reload_conf()")
    root = testenv.tmpdir()
    for v = 1, 3 do
      write_feed(root, v)
    end
    api = api_fixture.start({ root = root })
    plain = testenv.fresh_db("citus_plain")
  end)

  teardown(function()
    if api then api.stop() end
    if citus then citus.stop() end
    if root then testenv.rm_rf(root) end
  end)

  -- Runs the sales job on version v of the feed into dsn; returns the result and the summary.
  local function run_sales(dsn, v, extra)
    local sfile = os.tmpname()
    local env = { SALES_API_URL = api.url .. "/v" .. v .. ".json", WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0" }
    for k, val in pairs(extra or {}) do env[k] = val end
    local r = testenv.salesengine({ "--quiet", "--summary-json", sfile, "scripts/pipeline.lua" },
      { env = env, timeout = 120 })
    local text = testenv.try_read_file(sfile)
    os.remove(sfile)
    return r, text and cjson.decode(text)
  end

  -- Creates fact_sales on the coordinator, distributed by how ("hash" or "reference").
  local function fresh_citus_table(how)
    citus.psql("DROP TABLE IF EXISTS fact_sales, etl_rejects, etl_state")
    citus.psql(schema_sql())
    if how == "hash" then
      citus.psql("SELECT create_distributed_table('fact_sales', 'sale_id')")
    else
      citus.psql("SELECT create_reference_table('fact_sales')")
    end
  end

  -- Writes dir/pipeline.lua: body after the lines that give it the sales job's
  -- modules (scripts/), etl and http.
  local function write_pipeline(dir, body)
    local head = string.format('package.path = %q .. "/scripts/?.lua;" .. package.path\n', testenv.root)
    testenv.write_file(dir .. "/pipeline.lua", head ..
      'local etl = require "salesengine.etl"\nlocal http = require "salesengine.http"\n' .. body)
  end

  local function pending_without_citus()
    if skip_reason then
      pending(skip_reason)
      return true
    end
    return false
  end

  -- a fresh load with a refused row, then every amount changed (the refused row too)
  -- (the reference table: the fresh load only)
  for how, versions in pairs({ hash = { 1, 2 }, reference = { 1 } }) do
    it("loads a " .. how .. " table exactly as a plain table: rows, counts, rejects, changes", function()
      if pending_without_citus() then return end
      fresh_citus_table(how)
      testenv.psql(plain, "DROP TABLE IF EXISTS fact_sales, etl_rejects, etl_state")
      for _, v in ipairs(versions) do
        local rp, sp = run_sales(plain, v)
        local rc, sc = run_sales(citus.dsn, v)
        assert.are.equal(0, rp.code, rp.stderr)
        assert.are.equal(0, rc.code, rc.stderr)
        assert.are.same(sp.tables, sc.tables)
        assert.are.equal(v == 1 and 2 or 1, sc.rejected)
        assert.are.equal(table_lines(plain), table_lines(citus.dsn))
      end
      local rows = versions[#versions] == 1 and "1175\n" or "1176\n" -- S333 is refused in version 1 only
      assert.are.equal(rows, testenv.psql(plain, "SELECT count(*) FROM fact_sales"))
      -- the rejects, on the coordinator: the record without an id and the amount the table cannot hold
      local rejects = citus.psql("SELECT record_key, field, code FROM etl_rejects ORDER BY seq")
      assert.matches("|id|INVALID\n", rejects, 1, true)
      assert.matches("S333|revenue|22003\n", rejects, 1, true)
      -- etl_rejects is a plain table of the coordinator's
      assert.are.equal("0\n", citus.psql(
        "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'etl_rejects'::regclass"))
    end)
  end

  it("rewrites no row on a re-run with skip_unchanged, and evaluates set expressions once per batch", function()
    if pending_without_citus() then return end
    fresh_citus_table("hash")
    local dir = testenv.tmpdir()
    write_pipeline(dir, [[
      local s = etl.run {
        name = "citus_skip", source = http.records(os.getenv("SALES_API_URL"), { records = "sales" }),
        transform = require("transform").transform, key = "id",
        sink = require("sales_sink")({ skip_unchanged = true }), db = os.getenv("WAREHOUSE_DSN"),
        max_rejects = 5,
      }
      print(s.tables.fact_sales.inserted, s.tables.fact_sales.updated, s.tables.fact_sales.unchanged)
    ]])
    local env = { SALES_API_URL = api.url .. "/v2.json", WAREHOUSE_DSN = citus.dsn }
    local r1 = testenv.salesengine({ "--quiet", dir .. "/pipeline.lua" }, { env = env })
    assert.are.equal(0, r1.code, r1.stderr)
    assert.are.equal("1176\t0\t0\n", r1.stdout)
    local before = citus.psql("SELECT sale_id, loaded_at FROM fact_sales ORDER BY sale_id")
    local stamps = citus.psql("SELECT count(DISTINCT loaded_at) FROM fact_sales")
    local r2 = testenv.salesengine({ "--quiet", dir .. "/pipeline.lua" }, { env = env })
    assert.are.equal(0, r2.code, r2.stderr)
    assert.are.equal("0\t0\t1176\n", r2.stdout)
    assert.are.equal(before, citus.psql("SELECT sale_id, loaded_at FROM fact_sales ORDER BY sale_id"))
    -- now() was evaluated once per batch of the writer (10,000 rows): one value for the whole load
    assert.are.equal("1\n", stamps)
    testenv.rm_rf(dir)
  end)

  it("keeps the incremental state and the run's lock on the coordinator", function()
    if pending_without_citus() then return end
    fresh_citus_table("hash")
    local dir = testenv.tmpdir()
    write_pipeline(dir, [[
      etl.run {
        name = "citus_incremental", incremental = { field = "date", initial = "2026-01-01T00:00:00Z", lag = 0 },
        source = function() return http.records(os.getenv("SALES_API_URL"), { records = "sales" }) end,
        transform = require("transform").transform, key = "id", sink = require("sales_sink")(),
        db = os.getenv("WAREHOUSE_DSN"), max_rejects = 5,
      }
    ]])
    local env = { SALES_API_URL = api.url .. "/v2.json", WAREHOUSE_DSN = citus.dsn }
    local r = testenv.salesengine({ "--quiet", dir .. "/pipeline.lua" }, { env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("citus_incremental\n", citus.psql("SELECT pipeline FROM etl_state"))
    local shown = testenv.salesengine({ "state", "show", "citus_incremental", "--dsn", citus.dsn })
    assert.are.equal(0, shown.code, shown.stderr)
    assert.matches("2026%-01%-28", shown.stdout)
    -- while another session holds the pipeline's lock, a run refuses to start
    local key = require("salesengine.state").lock_key("citus_incremental")
    local holder = io.popen(string.format([[psql -X -q -d %s -c "SELECT pg_advisory_lock(%s), pg_sleep(2)" ]] ..
      [[>/dev/null 2>&1]], testenv.shquote(citus.dsn), tostring(key)))
    testenv.wait_until("the lock is held", function()
      return citus.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") ~= "0\n"
    end, 10)
    local locked = testenv.salesengine({ "--quiet", dir .. "/pipeline.lua" }, { env = env, timeout = 60 })
    holder:close()
    assert.are.equal(4, locked.code, locked.stderr)
    assert.matches("pipeline 'citus_incremental' is locked by another run", locked.stderr, 1, true)
    testenv.rm_rf(dir)
  end)

  it("2 partitions at once: one SIGKILLed half-way leaves the other's share; its re-run completes the table",
    function()
    if pending_without_citus() then return end
    fresh_citus_table("hash")
    testenv.psql(plain, "DROP TABLE IF EXISTS fact_sales, etl_rejects, etl_state")
    local rp = run_sales(plain, 2)
    assert.are.equal(0, rp.code, rp.stderr)
    -- pages of 100 sales, 150 ms each: a key's versions lie in one page, so in one partition
    local url = api.url .. "/paged/150/v2.json"
    local function start(part)
      local dir = testenv.tmpdir()
      local parts = { "env" }
      for k, v in pairs({ SALES_API_URL = url, SALES_PAGE_SIZE = tostring(PER_PAGE), WAREHOUSE_DSN = citus.dsn,
        SALES_RETRY_DELAY = "0" }) do
        parts[#parts + 1] = testenv.shquote(k .. "=" .. v)
      end
      os.execute(string.format("(%s %s --quiet --partition %s scripts/pipeline.lua >/dev/null 2>%s/err & " ..
        "echo $! >%s/pid; wait $!; echo $? >%s/rc) >/dev/null 2>&1 &", table.concat(parts, " "),
        testenv.shquote(testenv.bin), part, dir, dir, dir))
      return { dir = dir, pid = tonumber(testenv.wait_for_file(dir .. "/pid"):match("%d+")) }
    end
    local function rc_of(p)
      return tonumber(testenv.wait_for_file(p.dir .. "/rc", 120):match("%d+")), testenv.read_file(p.dir .. "/err")
    end
    -- both started at once into an empty table; partition 1 is killed half-way, partition 0 finishes
    api.reset()
    local p0, p1 = start("0/2"), start("1/2")
    testenv.wait_until("partition 1 half-way", function() return api.count("/paged/150/v2.json") >= 6 end, 30)
    os.execute("kill -9 " .. p1.pid)
    assert.are.equal(0, (rc_of(p0)))
    assert.are_not.equal(0, (rc_of(p1)))
    local share = tonumber((citus.psql("SELECT count(*) FROM fact_sales")))
    assert.is_true(share > 0 and share < 1176, tostring(share))
    local again = start("1/2")
    local rc, err = rc_of(again)
    assert.are.equal(0, rc, err)
    assert.are.equal(table_lines(plain), table_lines(citus.dsn))
    for _, p in ipairs({ p0, p1, again }) do testenv.rm_rf(p.dir) end
  end)

  it("refuses a key without the distribution column, saying what to change", function()
    if pending_without_citus() then return end
    citus.psql("DROP TABLE IF EXISTS fact_sales, etl_rejects")
    citus.psql([[CREATE TABLE fact_sales (sale_id text, sale_date timestamptz NOT NULL,
      revenue numeric(14, 2) NOT NULL, region text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (sale_id, region))]])
    citus.psql("SELECT create_distributed_table('fact_sales', 'region')")
    local r = run_sales(citus.dsn, 1)
    assert.are.equal(4, r.code, r.stderr)
    assert.matches('upsert into fact_sales: the table is distributed by column "region" (Citus), which the key ' ..
      '(sale_id) does not hold', r.stderr, 1, true)
    assert.matches('add "region" to the upsert\'s key', r.stderr, 1, true)
    assert.are.equal("0\n", citus.psql("SELECT count(*) FROM fact_sales"))
  end)

  it("fails with exit 4 naming the node when a worker is down, before or during a run; a re-run is exact",
    function()
      if pending_without_citus() then return end
      fresh_citus_table("hash")
      local r0 = run_sales(citus.dsn, 2)
      assert.are.equal(0, r0.code, r0.stderr)
      local v2 = table_lines(citus.dsn)
      -- before: worker 2 is down when the run starts
      citus.stop_worker(2)
      local r1 = run_sales(citus.dsn, 3)
      assert.are.equal(4, r1.code, r1.stderr)
      assert.matches("127.0.0.1:" .. (citus.port + 2), r1.stderr, 1, true)
      citus.start_worker(2)
      assert.are.equal(v2, table_lines(citus.dsn))
      -- during: the pages come slowly (SALES_PAGE_SIZE, 150 ms a page); worker 1 stops half-way
      local paged = { SALES_PAGE_SIZE = tostring(PER_PAGE),
        SALES_API_URL = api.url .. "/paged/150/v3.json" }
      local dir = testenv.tmpdir()
      local cmd = { "env" }
      for k, v in pairs({ SALES_API_URL = paged.SALES_API_URL, SALES_PAGE_SIZE = paged.SALES_PAGE_SIZE,
        WAREHOUSE_DSN = citus.dsn, SALES_RETRY_DELAY = "0" }) do
        cmd[#cmd + 1] = testenv.shquote(k .. "=" .. v)
      end
      os.execute(string.format("(%s %s --quiet scripts/pipeline.lua >/dev/null 2>%s/err; echo $? >%s/rc) &",
        table.concat(cmd, " "), testenv.shquote(testenv.bin), dir, dir))
      testenv.wait_until("half the pages", function() return api.count("/paged/150/v3.json") >= 6 end, 30)
      citus.stop_worker(1)
      local rc = tonumber(testenv.wait_for_file(dir .. "/rc", 120):match("%d+"))
      local err = testenv.read_file(dir .. "/err")
      assert.are.equal(4, rc, err)
      assert.matches("127.0.0.1:" .. (citus.port + 1), err, 1, true)
      citus.start_worker(1)
      assert.are.equal(v2, table_lines(citus.dsn)) -- nothing of the failed run is visible
      -- once the workers are back, a re-run leaves the exact table, as on a plain server
      local rp = run_sales(plain, 3)
      local rc2 = run_sales(citus.dsn, 3, paged)
      assert.are.equal(0, rp.code, rp.stderr)
      assert.are.equal(0, rc2.code, rc2.stderr)
      assert.are.equal(table_lines(plain), table_lines(citus.dsn))
      testenv.rm_rf(dir)
    end)
end)
