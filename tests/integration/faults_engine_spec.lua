-- Fault suite, engine side (issue 7): the engine stopped mid-load. A trap
-- trigger makes the 3rd load batch wait inside PostgreSQL for a lock the
-- test holds, so the signal always lands with two batches done: in one-transaction mode (the sales
-- pipeline) nothing of the run may be visible afterwards; in batch mode
-- (the paged pipeline, 100 records a batch) exactly the first two batches.
-- SIGINT and SIGTERM stop cleanly (rolled back, exit 130, a log line);
-- SIGKILL cannot, but the server rolls back what was not committed. In
-- every case a re-run makes the table exact.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local F = dofile("tests/lib/fault_helpers.lua")
local cjson = require "cjson"

local PIPELINE = "scripts/pipeline.lua"
local PAGED = "tests/integration/pipelines/paged_sales.lua"
local INTERRUPTED_LINE = 'level=warn msg="run interrupted; work not yet committed is rolled back"'

describe("the engine stopped mid-load", function()
  local dir, api, dsn
  -- about 26,700 records, loaded by the upsert writer in batches of 10,000 rows
  -- (repeats in the last); and 440 in 100-record pages/batches for the paged
  -- pipeline (repeats in batch 5)
  local v1, v2 = F.records(25000, 11), F.records(25000, 12)
  local p1, p2 = F.records(400, 13), F.records(400, 14)

  sales_site.for_spec("faults_engine", {}, function(site)
    dir, api, dsn = site.dir, site.api, site.dsn
    testenv.write_file(dir .. "/v1.json", F.feed(v1))
    testenv.write_file(dir .. "/v2.json", F.feed(v2))
  end)

  local function env_for(url, extra)
    local env = { SALES_API_URL = url, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.05",
      SE_SOURCE_DIR = testenv.root, SALES_BATCH_SIZE = "100" }
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end

  --- Loads the feed at url with script, then arms the trap; returns the table's snapshot.
  local function prepare(script, url)
    testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales")
    local r = F.run(script, env_for(url, { SALES_COMMIT = "batch" }))
    assert.are.equal(0, r.code, r.stderr)
    testenv.psql(dsn, F.trap_sql(3))
    F.hold_trap(dsn)
    return F.snapshot(dsn)
  end

  after_each(function()
    F.release_trap(dsn) -- also when a case failed half-way
  end)

  --- Waits until the killed engine's session has ended (its transaction rolled back).
  local function wait_for_sessions_to_end()
    F.wait_until("the old session to end", function()
      return testenv.psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " ..
        "AND pid <> pg_backend_pid()") == "0\n"
    end, 60)
  end

  for _, sig in ipairs({ "INT", "TERM" }) do
    it("SIG" .. sig .. " in one-transaction mode: rolled back, exit 130, a log line; a re-run is exact", function()
      local before = prepare(PIPELINE, api.url .. "/v1.json")
      local sfile = dir .. "/summary.json"
      local run = F.spawn({ "--summary-json", sfile, PIPELINE }, env_for(api.url .. "/v2.json"))
      F.wait_for_trap(dsn)
      -- mid-load, with two batches written, a reader still sees the table as it was
      assert.are.equal(before, F.snapshot(dsn))
      run:signal(sig)
      F.release_trap(dsn)
      local r = run:wait()
      assert.are.equal("exit 130", r.status, r.stderr)
      assert.truthy(r.stderr:find(INTERRUPTED_LINE, 1, true), r.stderr)
      assert.truthy(r.stderr:find("salesengine: interrupted by SIG" .. sig, 1, true), r.stderr)
      local s = cjson.decode(testenv.read_file(sfile))
      assert.are.same({ "failed", 130, false, "interrupted" }, { s.status, s.exit_code, s.committed, s.error.kind })
      assert.are.equal(before, F.snapshot(dsn))

      r = F.run(PIPELINE, env_for(api.url .. "/v2.json"))
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    end)
  end

  it("SIGTERM in batch mode: keeps exactly the committed batches, exit 130; a re-run is exact", function()
    prepare(PAGED, F.write_pages(dir, api.url, p1, 100))
    local run = F.spawn({ PAGED }, env_for(F.write_pages(dir, api.url, p2, 100), { SALES_COMMIT = "batch" }))
    F.wait_for_trap(dsn)
    -- mid-load, a reader already sees the committed batches, and only them
    assert.are.equal(F.expected({ p1, p2 }, 200), F.table_lines(dsn))
    run:signal("TERM")
    F.release_trap(dsn)
    local r = run:wait()
    assert.are.equal("exit 130", r.status, r.stderr)
    assert.truthy(r.stderr:find(INTERRUPTED_LINE, 1, true), r.stderr)
    assert.are.equal(F.expected({ p1, p2 }, 200), F.table_lines(dsn))

    r = F.run(PAGED, env_for(F.write_pages(dir, api.url, p2, 100), { SALES_COMMIT = "batch" }))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ p1, p2 }), F.table_lines(dsn))
  end)

  it("SIGKILL in one-transaction mode: nothing of the run is kept; a re-run is exact", function()
    local before = prepare(PIPELINE, api.url .. "/v1.json")
    local run = F.spawn({ PIPELINE }, env_for(api.url .. "/v2.json"))
    F.wait_for_trap(dsn)
    run:signal("KILL")
    assert.are.equal("signal 9", run:wait().status)
    F.release_trap(dsn) -- the orphaned session goes on, finds its client gone and rolls back
    wait_for_sessions_to_end()
    assert.are.equal(before, F.snapshot(dsn))

    local r = F.run(PIPELINE, env_for(api.url .. "/v2.json"))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
  end)

  it("SIGKILL in batch mode: exactly the committed batches are kept; a re-run is exact", function()
    prepare(PAGED, F.write_pages(dir, api.url, p1, 100))
    local run = F.spawn({ PAGED }, env_for(F.write_pages(dir, api.url, p2, 100), { SALES_COMMIT = "batch" }))
    F.wait_for_trap(dsn)
    run:signal("KILL")
    assert.are.equal("signal 9", run:wait().status)
    F.release_trap(dsn) -- the orphaned session goes on, finds its client gone and rolls back
    wait_for_sessions_to_end()
    assert.are.equal(F.expected({ p1, p2 }, 200), F.table_lines(dsn))

    local r = F.run(PAGED, env_for(F.write_pages(dir, api.url, p2, 100), { SALES_COMMIT = "batch" }))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ p1, p2 }), F.table_lines(dsn))
  end)
end)
