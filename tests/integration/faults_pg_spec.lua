-- Fault suite, database side (issue 7): PostgreSQL restarted, or stopped for
-- longer than any retry budget, while the pipeline is mid-load (a private
-- cluster; a trap trigger holds the 3rd load batch inside the server, on a
-- lock the test holds, so the fault always lands with two batches done). The run fails with a load
-- error (exit 4) instead of guessing; one-transaction mode leaves the table
-- exactly as it was, batch mode exactly the committed batches, and a re-run
-- once the server is back makes the table exact.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local F = dofile("tests/lib/fault_helpers.lua")

local PIPELINE = "scripts/pipeline.lua"
local PAGED = "tests/integration/pipelines/paged_sales.lua"

describe("PostgreSQL faults mid-load", function()
  local dir, api, cluster, dsn
  local v1, v2 = F.records(25000, 21), F.records(25000, 22)
  local p1, p2 = F.records(400, 23), F.records(400, 24)

  setup(function()
    dir = testenv.tmpdir()
    api = api_fixture.start({ root = dir })
    cluster = testenv.cluster()
    dsn = cluster.dsn
    testenv.write_file(dir .. "/v1.json", F.feed(v1))
    testenv.write_file(dir .. "/v2.json", F.feed(v2))
  end)

  teardown(function()
    cluster:stop()
    api.stop()
    testenv.rm_rf(dir)
  end)

  local function env_for(url, commit)
    return { SALES_API_URL = url, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.05", SE_SOURCE_DIR = testenv.root,
      SALES_BATCH_SIZE = "100", SALES_COMMIT = commit or "run" }
  end

  --- Loads the feed at url with script, then arms the trap; returns the table's snapshot.
  local function prepare(script, url)
    testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales")
    local r = F.run(script, env_for(url, "batch"))
    assert.are.equal(0, r.code, r.stderr)
    testenv.psql(dsn, F.trap_sql(3))
    F.hold_trap(dsn) -- the restart or the stop ends the holding session too
    return F.snapshot(dsn)
  end

  local function assert_lost_connection(r, loaded)
    assert.are.equal("exit 4", r.status, r.stderr)
    -- the message names the table, the batch and the server's reason
    assert.matches("salesengine: upsert into fact_sales %(rows %d+ to %d+%): [^\n]*terminating connection due to " ..
      "administrator command", r.stderr)
    assert.matches('level=error msg="pipeline failed" [^\n]*loaded=' .. loaded .. ' ', r.stderr)
  end

  it("restarted, one-transaction mode: fails, nothing of the run is kept; a re-run is exact", function()
    local before = prepare(PIPELINE, api.url .. "/v1.json")
    local run = F.spawn({ PIPELINE }, env_for(api.url .. "/v2.json"))
    F.wait_for_trap(dsn)
    cluster:restart()
    assert_lost_connection(run:wait(), 20000) -- two load batches of 10,000 rows were in
    assert.are.equal(before, F.snapshot(dsn))

    local r = F.run(PIPELINE, env_for(api.url .. "/v2.json"))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
  end)

  it("restarted, batch mode: fails, exactly the committed batches are kept; a re-run is exact", function()
    prepare(PAGED, F.write_pages(dir, api.url, p1, 100))
    local url = F.write_pages(dir, api.url, p2, 100)
    local run = F.spawn({ PAGED }, env_for(url, "batch"))
    F.wait_for_trap(dsn)
    cluster:restart()
    assert_lost_connection(run:wait(), 200) -- two committed batches of 100
    assert.are.equal(F.expected({ p1, p2 }, 200), F.table_lines(dsn))

    local r = F.run(PAGED, env_for(url, "batch"))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ p1, p2 }), F.table_lines(dsn))
  end)

  it("stopped for longer than the retry budget: fails without hanging; a re-run once it is back is exact", function()
    local before = prepare(PIPELINE, api.url .. "/v1.json")
    local run = F.spawn({ PIPELINE }, env_for(api.url .. "/v2.json"))
    F.wait_for_trap(dsn)
    cluster:kill() -- immediate shutdown, stays down
    local r = run:wait(90)
    assert.are.equal("exit 4", r.status, r.stderr)
    assert.matches("salesengine: upsert into fact_sales %(rows %d+ to %d+%): [^\n]*connection", r.stderr)
    assert.matches('level=error msg="pipeline failed" [^\n]*loaded=20000 ', r.stderr)
    -- a run while the server is still down fails at connect, naming the cause
    r = F.run(PIPELINE, env_for(api.url .. "/v2.json"))
    assert.are.equal(4, r.code, r.stderr)
    assert.matches("salesengine: [^\n]*connect", r.stderr)
    cluster:up()
    assert.are.equal(before, F.snapshot(dsn))

    r = F.run(PIPELINE, env_for(api.url .. "/v2.json"))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
  end)
end)
