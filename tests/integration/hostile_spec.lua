-- Issue 18 ("a hostile world"), the database side: a stop that stops whatever
-- the run waits on (points 3), concurrent first runs (5), configuration
-- mistakes (6) and messages that tell the truth (7).
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local F = dofile("tests/lib/fault_helpers.lua")

local PIPELINE = "scripts/pipeline.lua"
local INTERRUPTED_LINE = 'level=warn msg="run interrupted; work not yet committed is rolled back"'

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

describe("issue 18", function()
  local dir, api, dsn

  setup(function()
    dir = testenv.tmpdir()
    api = api_fixture.start({ root = dir })
    testenv.write_file(dir .. "/v1.json", F.feed(F.records(50, 21)))
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(dir)
  end)

  local function env_for(url, extra)
    local env = { SALES_API_URL = url, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.05", SE_SOURCE_DIR = testenv.root }
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end

  --- Sends SIGTERM to run once ready() holds; returns the result and the seconds the stop took.
  local function stop_when(run, what, ready)
    F.wait_until(what, ready, 30)
    local t = now()
    run:signal("TERM")
    local r = run:wait(30)
    return r, now() - t
  end

  describe("a stop is prompt", function()
    before_each(function()
      dsn = testenv.fresh_db("hostile_stop")
      api.reset()
    end)

    it("during a stalled HTTP transfer: exit 130 within 2 s; the summary counts the stalled time", function()
      local sfile = dir .. "/stalled-summary.json"
      local run = F.spawn({ "--summary-json", sfile, PIPELINE },
        env_for(api.url .. "/v1.json?fault=stall&seconds=60"))
      local r, took = stop_when(run, "the request to stall", function()
        if api.count("/v1.json") == 0 then return false end
        os.execute("sleep 1.5") -- stalled for a while
        return true
      end)
      assert.are.equal("exit 130", r.status, r.stderr)
      assert.truthy(took < 2, "took " .. took .. " s")
      assert.truthy(r.stderr:find(INTERRUPTED_LINE, 1, true), r.stderr)
      local s = require("cjson").decode(testenv.read_file(sfile))
      assert.truthy(s.timings.extract_s >= 1.4, "extract_s = " .. tostring(s.timings.extract_s))
      assert.matches("extract_s=[1-9]", r.stderr)
    end)

    it("during a retry wait: exit 130 within 2 s", function()
      local run = F.spawn({ PIPELINE }, env_for(api.url .. "/v1.json?status=503", { SALES_RETRY_DELAY = "60" }))
      local r, took = stop_when(run, "the first attempt", function() return api.count("/v1.json") > 0 end)
      assert.are.equal("exit 130", r.status, r.stderr)
      assert.truthy(took < 2, "took " .. took .. " s")
    end)

    it("while the table is locked by another session: cancelled, rolled back, exit 130 within 2 s", function()
      testenv.psql(dsn, testenv.read_file(testenv.root .. "/scripts/schema.sql"))
      assert(os.execute("psql -XAtq -d " .. testenv.shquote(dsn .. " application_name=se_locker") ..
        " -c 'BEGIN' -c 'LOCK TABLE fact_sales' -c 'SELECT pg_sleep(3600)' >/dev/null 2>&1 &"))
      F.wait_until("the lock", function()
        return testenv.psql(dsn, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation " ..
          "WHERE c.relname = 'fact_sales' AND l.mode = 'AccessExclusiveLock' AND l.granted"):match("1") ~= nil
      end)
      local run = F.spawn({ PIPELINE }, env_for(api.url .. "/v1.json"))
      local r, took = stop_when(run, "the load to wait for the lock", function()
        -- this database's waits only: pg_locks is the cluster's, and other specs may wait at the same time
        return testenv.psql(dsn, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database " ..
          "WHERE NOT l.granted AND d.datname = current_database()"):match("^0") == nil
      end)
      testenv.psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'se_locker'")
      assert.are.equal("exit 130", r.status, r.stderr)
      assert.truthy(took < 2, "took " .. took .. " s")
      assert.truthy(r.stderr:find(INTERRUPTED_LINE, 1, true), r.stderr)
      assert.are.equal("0", testenv.psql(dsn, "SELECT count(*) FROM fact_sales"):match("%d+"))
    end)

    it("lock_timeout on a sink ends a lock wait with exit 4", function()
      testenv.psql(dsn, testenv.read_file(testenv.root .. "/scripts/schema.sql"))
      assert(os.execute("psql -XAtq -d " .. testenv.shquote(dsn .. " application_name=se_locker") ..
        " -c 'BEGIN' -c 'LOCK TABLE fact_sales' -c 'SELECT pg_sleep(3600)' >/dev/null 2>&1 &"))
      F.wait_until("the lock", function()
        return testenv.psql(dsn, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation " ..
          "WHERE c.relname = 'fact_sales' AND l.granted"):match("^0") == nil
      end)
      local script = dir .. "/timeout_pipeline.lua"
      testenv.write_file(script, [[
        local etl = require "salesengine.etl"
        etl.run { name = "t", source = etl.pages({ { { id = "A1" } } }), db = os.getenv("WAREHOUSE_DSN"),
          transform = function(r) return { sale_id = r.id, sale_date = "2026-01-01", revenue = 1, region = "X" } end,
          sink = { table = "fact_sales", key = { "sale_id" }, lock_timeout = 0.5, statement_timeout = 5 } }
      ]])
      local t = now()
      local r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn }, timeout = 60 })
      testenv.psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'se_locker'")
      assert.are.equal(4, r.code, r.stderr)
      assert.matches("lock timeout", r.stderr)
      assert.truthy(now() - t < 10)
    end)
  end)

  describe("configuration is checked before any work", function()
    before_each(function()
      dsn = testenv.fresh_db("hostile_config")
      api.reset()
    end)

    it("exits 2 naming the variable for a bad number, URL or connection string; nothing is fetched", function()
      local cases = {
        { "SALES_MAX_REJECTS", "abc", 'SALES_MAX_REJECTS must be a count .* got "abc"' },
        { "SALES_RETRY_DELAY", "abc", 'SALES_RETRY_DELAY must be a number, got "abc"' },
        { "SALES_RETRY_DELAY", "-1", "SALES_RETRY_DELAY must be at least 0" },
        { "SALES_MAX_BYTES", "1.5", 'SALES_MAX_BYTES must be a whole number, got "1.5"' },
        { "SALES_API_URL", "notaurl", "SALES_API_URL is not a usable URL %(no scheme" },
        { "SALES_API_URL", "ftp://127.0.0.1/x", "SALES_API_URL is not a usable URL %(the scheme is not http" },
        { "WAREHOUSE_DSN", "garbage", "WAREHOUSE_DSN is not a valid connection string" },
      }
      for _, c in ipairs(cases) do
        local r = testenv.salesengine({ PIPELINE }, { env = env_for(api.url .. "/v1.json", { [c[1]] = c[2] }),
          timeout = 60 })
        assert.are.equal(2, r.code, c[1] .. "=" .. c[2] .. ": " .. r.stderr)
        assert.matches("salesengine: environment variable " .. c[3], r.stderr)
        assert.falsy(r.stderr:find("traceback", 1, true), r.stderr)
      end
      assert.are.equal(0, api.count("/v1.json"))
    end)

    it("reaches the database before the extract: exit 4 at once, nothing fetched", function()
      local closed = dsn:gsub("host=%S+ port=%d+", "host=127.0.0.1 port=" .. testenv.free_port())
      local t = now()
      local r = testenv.salesengine({ PIPELINE }, { env = env_for(api.url .. "/v1.json", { WAREHOUSE_DSN = closed }),
        timeout = 60 })
      assert.are.equal(4, r.code, r.stderr)
      assert.matches("could not connect to PostgreSQL", r.stderr)
      assert.are.equal(0, api.count("/v1.json"))
      assert.truthy(now() - t < 15)
    end)
  end)

  describe("messages tell the truth", function()
    before_each(function()
      dsn = testenv.fresh_db("hostile_messages")
    end)

    it("numbers the rows of a failed batch from the run's first row, not the batch's", function()
      local script = dir .. "/rows_pipeline.lua"
      testenv.write_file(script, [[
        local etl = require "salesengine.etl"
        local records = {}
        for i = 1, 30 do records[i] = { id = string.format("R%02d", i) } end
        local sink = { table = "fact_sales", key = { "sale_id" }, batch_size = 10 } -- load batches of 10 rows
        if os.getenv("WITH_COLUMNS") then sink.columns = { "sale_id", "sale_date", "revenue", "region" } end
        etl.run { name = "rows", source = etl.records(records, 10), db = os.getenv("WAREHOUSE_DSN"), batch_size = 10,
          commit = os.getenv("COMMIT"), sink = sink,
          transform = function(r) return { sale_id = r.id, sale_date = "2026-01-01", revenue = 1, region = "X" } end }
      ]])
      for _, variant in ipairs({ { COMMIT = "run" }, { COMMIT = "run", WITH_COLUMNS = "1" }, { COMMIT = "batch" } }) do
        testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales; " ..
          testenv.read_file(testenv.root .. "/scripts/schema.sql") .. [[
          DROP SEQUENCE IF EXISTS boom_calls; CREATE SEQUENCE boom_calls;
          CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $f$
          BEGIN
            IF nextval('boom_calls') = 3 THEN RAISE EXCEPTION 'boom in the third batch'; END IF;
            RETURN NULL;
          END $f$;
          CREATE TRIGGER boom AFTER INSERT ON fact_sales FOR EACH STATEMENT EXECUTE FUNCTION boom();]])
        variant.WAREHOUSE_DSN = dsn
        local r = testenv.salesengine({ script }, { env = variant, timeout = 60 })
        assert.are.equal(4, r.code, r.stderr)
        assert.matches("%(rows 21 to 30%): boom in the third batch", r.stderr)
      end
    end)

    it("claims a lost caller's transaction only when there was one", function()
      local r = testenv.salesengine({ "-e", [[
        local pg = require "salesengine.pg"
        local function victim_upsert(in_tx)
          local conn = assert(pg.connect(os.getenv("DSN") .. " application_name=se_victim",
            { reconnect_attempts = 1, reconnect_delay = 0 }))
          assert(conn:exec("CREATE TABLE IF NOT EXISTS v (id text PRIMARY KEY)"))
          if in_tx then assert(conn:begin()) end
          os.execute("psql -XAtq -d '" .. os.getenv("DSN") .. "' -c \"SELECT pg_terminate_backend(pid) " ..
            "FROM pg_stat_activity WHERE application_name = 'se_victim'\" >/dev/null")
          local ok, err = conn:upsert("v", { { id = "a" } }, { key = "id" })
          io.write(in_tx and "IN_TX " or "NO_TX ", tostring(ok), " ", tostring(err), "\n")
        end
        victim_upsert(false)
        victim_upsert(true)
      ]] }, { env = { DSN = dsn }, timeout = 60 })
      assert.are.equal(0, r.code, r.stderr)
      local no_tx = r.stdout:match("NO_TX ([^\n]*)")
      local in_tx = r.stdout:match("IN_TX ([^\n]*)")
      assert.truthy(no_tx and in_tx, r.stdout)
      assert.matches("^nil .*terminat", no_tx) -- both failed, for the session was gone
      assert.matches("^nil ", in_tx)
      assert.falsy(no_tx:find("caller's transaction", 1, true), no_tx)
      assert.truthy(in_tx:find("inside the caller's transaction", 1, true), in_tx)
    end)
  end)

  describe("dead letters (point 9)", function()
    local script

    setup(function()
      script = dir .. "/dead_letters.lua"
      testenv.write_file(script, [[
        local etl = require "salesengine.etl"
        local records = {}
        for i = 1, 10 do records[i] = { id = "D" .. i } end
        local file = os.getenv("REJECTS_FILE")
        etl.run { name = "dead", source = etl.pages({ records }), db = os.getenv("WAREHOUSE_DSN"),
          setup = etl.read_beside("schema.sql"), max_rejects = tonumber(os.getenv("MAX_REJECTS")),
          rejects = file and { file = file } or nil,
          transform = function(r)
            if r.id == "D3" or r.id == "D7" then error("bad record " .. r.id) end
            return { sale_id = r.id, sale_date = "2026-01-01", revenue = 1, region = "X" }
          end,
          sink = { table = "fact_sales", key = { "sale_id" } } }
      ]])
      testenv.write_file(dir .. "/schema.sql", testenv.read_file(testenv.root .. "/scripts/schema.sql"))
    end)

    before_each(function()
      dsn = testenv.fresh_db("hostile_dead")
    end)

    it("writes the rejects file with mode 0600, also when it existed with a wider mode", function()
      local file = dir .. "/rejects.jsonl"
      os.remove(file)
      local function mode()
        local p = io.popen("stat -c %a " .. testenv.shquote(file))
        local m = p:read("l")
        p:close()
        return m
      end
      local r = testenv.run({ "sh", "-c", "umask 022; exec \"$0\" \"$1\"", testenv.bin, script },
        { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "5", REJECTS_FILE = file } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("600", mode())
      assert(os.execute("chmod 644 " .. testenv.shquote(file)))
      r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "5", REJECTS_FILE = file } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("600", mode())
    end)

    it("keeps a failed run's rejects until a later run commits, then only that run's", function()
      local r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "1" } })
      assert.are.equal(5, r.code, r.stderr)
      assert.are.equal("D3|f\nD7|f\n", testenv.psql(dsn,
        "SELECT record_key, committed FROM etl_rejects ORDER BY record_key"))
      r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "1" } })
      assert.are.equal(5, r.code, r.stderr) -- failed runs accumulate, for debugging
      assert.are.equal("4", testenv.psql(dsn, "SELECT count(*) FROM etl_rejects"):match("%d+"))
      r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "5" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("D3|t\nD7|t\n", testenv.psql(dsn,
        "SELECT record_key, committed FROM etl_rejects ORDER BY record_key"))
      assert.are.equal("1", testenv.psql(dsn, "SELECT count(DISTINCT run_id) FROM etl_rejects"):match("%d+"))
      r = testenv.salesengine({ script }, { env = { WAREHOUSE_DSN = dsn, MAX_REJECTS = "5" } })
      assert.are.equal(0, r.code, r.stderr) -- a committed run's rejects stay
      assert.are.equal("2", testenv.psql(dsn, "SELECT count(DISTINCT run_id) FROM etl_rejects"):match("%d+"))
    end)
  end)

  describe("concurrent first runs", function()
    -- The runs' set-up first waits for a lock the test holds, so all of them
    -- reach CREATE TABLE IF NOT EXISTS at the same moment once it is released.
    it("all succeed on a fresh database (set-up and etl_rejects under an advisory lock)", function()
      local script = dir .. "/first_run.lua"
      testenv.write_file(script, [[
        local etl = require "salesengine.etl"
        local records = {}
        for i = 1, 20 do records[i] = { id = "S" .. i } end
        etl.run { name = "first", source = etl.pages({ records }), db = os.getenv("WAREHOUSE_DSN"),
          setup = "SELECT pg_advisory_xact_lock_shared(4242);" .. etl.read_beside("schema.sql"),
          max_rejects = 5,
          transform = function(r)
            if r.id == "S3" then error("bad record") end -- a reject: etl_rejects is created too
            return { sale_id = r.id, sale_date = "2026-01-01", revenue = 1, region = "X" }
          end,
          sink = { table = "fact_sales", key = { "sale_id" } } }
      ]])
      testenv.write_file(dir .. "/schema.sql", testenv.read_file(testenv.root .. "/scripts/schema.sql"))
      for round = 1, 2 do
        dsn = testenv.fresh_db("hostile_first_" .. round)
        assert(os.execute("psql -XAtq -d " .. testenv.shquote(dsn .. " application_name=se_barrier") ..
          " -c 'SELECT pg_advisory_lock(4242)' -c 'SELECT pg_sleep(3600)' >/dev/null 2>&1 &"))
        F.wait_until("the barrier", function()
          return testenv.psql(dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            :match("^1") ~= nil
        end)
        local runs = {}
        for i = 1, 4 do
          runs[i] = F.spawn({ script }, { WAREHOUSE_DSN = dsn })
        end
        F.wait_until("the runs to wait", function()
          return testenv.psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name <> 'se_barrier' " ..
            "AND wait_event_type = 'Lock'"):match("^4") ~= nil
        end)
        testenv.psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity " ..
          "WHERE application_name = 'se_barrier'")
        for i = 1, 4 do
          local r = runs[i]:wait(60)
          assert.are.equal("exit 0", r.status, r.stderr)
        end
        assert.are.equal("4", testenv.psql(dsn, "SELECT count(DISTINCT run_id) FROM etl_rejects"):match("%d+"))
      end
    end)
  end)
end)
