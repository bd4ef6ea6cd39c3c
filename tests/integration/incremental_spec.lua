-- Incremental loads for real: examples/incremental_sales/pipeline.lua against
-- the `since` fixture API (tests/fixtures/since_server.py) and PostgreSQL.
-- Each scenario compares fact_sales with the expected table: the whole feed
-- loaded by the ordinary scripts/pipeline.lua into a database of its own.
local testenv = dofile("tests/lib/testenv.lua")
local since_fixture = dofile("tests/lib/since_fixture.lua")
local cjson = require "cjson"

local PIPELINE = "examples/incremental_sales/pipeline.lua"
local INITIAL = "2026-01-01T00:00:00Z" -- the pipeline's default SALES_INITIAL

local function sale(id, date, amount)
  return { id = id, date = date, amount_usd = amount or "10.00", region = "emea" }
end

local function psql(dsn, sql)
  return (testenv.psql(dsn, sql):gsub("\n$", ""))
end

-- The pipeline's environment for api and dsn, plus extra.
local function env_for(api, dsn, extra)
  local env = { SALES_API_URL = api.sales_url, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.01",
    SALES_PAGE_SIZE = "5" }
  for k, v in pairs(extra or {}) do
    env[k] = v
  end
  return env
end

-- Runs the incremental pipeline (args: host options before the script).
local function run(api, dsn, extra, args)
  local argv = {}
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  argv[#argv + 1] = PIPELINE
  return testenv.salesengine(argv, { env = env_for(api, dsn, extra) })
end

local function spawn(api, dsn, extra)
  return since_fixture.spawn({ testenv.bin, PIPELINE }, env_for(api, dsn, extra))
end

local function state_cmd(dsn, ...)
  local argv = { "state", ... }
  argv[#argv + 1] = "--dsn"
  argv[#argv + 1] = dsn
  return testenv.salesengine(argv)
end

-- fact_sales, every column but loaded_at, one line per row ordered by sale_id.
local function table_text(dsn)
  return psql(dsn, "SELECT sale_id, sale_date, revenue, region FROM fact_sales ORDER BY sale_id")
end

-- The expected table: the fixture's whole feed loaded by scripts/pipeline.lua.
local function expected_table(api, name)
  local ref = testenv.fresh_db(name .. "_ref")
  local r = testenv.salesengine({ "scripts/pipeline.lua" },
    { env = { SALES_API_URL = api.url .. "/sales/all", WAREHOUSE_DSN = ref } })
  assert(r.code == 0, r.stderr)
  return table_text(ref)
end

-- The pipeline's row of etl_state: {cursor, resume, version}.
local function state_of(dsn)
  local out = psql(dsn, "SELECT coalesce(cursor_value #>> '{}', ''), coalesce(resume::text, ''), version "
    .. "FROM etl_state WHERE pipeline = 'sales'")
  local c, r, v = out:match("^(.-)|(.-)|(%d+)$")
  assert(v, "no state row: " .. out)
  return { cursor = c ~= "" and c or nil, resume = r ~= "" and cjson.decode(r) or nil, version = tonumber(v) }
end

-- The requests the fixture saw since the last call: their distinct `since`
-- values, the pages asked for and the ids served, in order.
local function window_of(api)
  local sinces, pages, ids = {}, {}, {}
  local seen = {}
  for _, e in ipairs(api.log()) do
    if not seen[e.since] then
      seen[e.since] = true
      sinces[#sinces + 1] = e.since
    end
    pages[#pages + 1] = tonumber(e.page)
    for _, id in ipairs(e.ids) do
      ids[#ids + 1] = id
    end
  end
  api.reset()
  return { sinces = sinces, pages = pages, ids = ids }
end

describe("incremental_sales", function()
  local api

  after_each(function()
    if api then
      api.release()
      api.stop()
      api = nil
    end
  end)

  it("three runs with new and late records in between: each asks for its window only; the table is exact",
    function()
      local dsn = testenv.fresh_db("incr_three")
      api = since_fixture.start({
        sale("S01", "2026-01-01T00:00:00Z"), sale("S02", "2026-01-01T12:00:00Z"),
        sale("S03", "2026-01-02T00:00:00Z"), sale("S04", "2026-01-02T12:00:00Z"),
        sale("S05", "2026-01-03T00:00:00Z"), sale("S06", "2026-01-03T12:00:00Z"),
        sale("S07", "2026-01-04T00:00:00Z"), sale("S08", "2026-01-04T12:00:00Z"),
        sale("S09", "2026-01-05T00:00:00Z"), sale("S10", "2026-01-05T12:00:00Z"),
        sale("S11", "2026-01-06T00:00:00Z"), sale("S12", "2026-01-06T14:30:00+02:00"), -- 12:30 UTC
      })
      local r = run(api, dsn)
      assert.are.equal(0, r.code, r.stderr)
      local w = window_of(api)
      assert.are.same({ INITIAL }, w.sinces)
      assert.are.same({ 1, 2, 3 }, w.pages)
      assert.are.equal(12, #w.ids)
      -- the newest date, normalised to UTC
      assert.are.equal("2026-01-06T12:30:00Z", state_of(dsn).cursor)

      -- new sales, a late one dated within the 1-day lag, and a correction of S11
      api.add({ sale("S13", "2026-01-07T08:00:00Z"), sale("S14", "2026-01-08T00:00:00Z"),
        sale("S15", "2026-01-05T18:00:00Z"), sale("S11", "2026-01-06T00:00:00Z", "99.99") })
      r = run(api, dsn)
      assert.are.equal(0, r.code, r.stderr)
      w = window_of(api)
      assert.are.same({ "2026-01-05T12:30:00Z" }, w.sinces) -- cursor - 1 day
      assert.are.same({ "S15", "S11", "S12", "S13", "S14" }, w.ids) -- not S10 (12:00, before the window)
      assert.are.equal("2026-01-08T00:00:00Z", state_of(dsn).cursor)

      api.add({ sale("S16", "2026-01-09T00:00:00Z"), sale("S17", "2026-01-07T12:00:00Z") })
      r = run(api, dsn)
      assert.are.equal(0, r.code, r.stderr)
      w = window_of(api)
      assert.are.same({ "2026-01-07T00:00:00Z" }, w.sinces)
      assert.are.same({ "S13", "S17", "S14", "S16" }, w.ids)
      assert.are.equal("2026-01-09T00:00:00Z", state_of(dsn).cursor)

      assert.are.equal(expected_table(api, "incr_three"), table_text(dsn))
      assert.are.equal("99.99", psql(dsn, "SELECT revenue FROM fact_sales WHERE sale_id = 'S11'"))
    end)

  it("killed mid-run in commit-every mode: the next run resumes after the last committed page", function()
    local dsn = testenv.fresh_db("incr_kill")
    local records = {}
    for i = 1, 20 do
      records[i] = sale(string.format("R%02d", i), string.format("2026-02-01T%02d:00:00Z", i), i .. ".25")
    end
    api = since_fixture.start(records)
    local batch = { SALES_PAGE_SIZE = "3", SALES_COMMIT_EVERY = "3" }
    api.stall(4)
    local p = spawn(api, dsn, batch)
    since_fixture.wait_until("page 4 to be requested", function() return api.stalled() == 1 end)
    -- pages 1 to 3 are committed, with the progress; the cursor itself has not moved
    local st = state_of(dsn)
    assert.are.equal(3, math.tointeger(st.resume.page))
    assert.are.equal(INITIAL, st.resume.since)
    assert.are.equal("2026-02-01T09:00:00Z", st.resume.cursor)
    assert.is_nil(st.cursor)
    assert.are.equal("9", psql(dsn, "SELECT count(*) FROM fact_sales"))
    assert.are.equal(137, p:kill()) -- 128 + SIGKILL
    api.release()
    api.add({ sale("R21", "2026-02-02T00:00:00Z", "21.25") })
    window_of(api)

    local r = run(api, dsn, batch)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("resumed=true", r.stderr)
    local w = window_of(api)
    assert.are.same({ INITIAL }, w.sinces)
    assert.are.same({ 4, 5, 6, 7 }, w.pages) -- 21 records: pages 4..7, none of 1..3 again
    assert.are.equal("R10", w.ids[1])
    st = state_of(dsn)
    assert.are.equal("2026-02-02T00:00:00Z", st.cursor)
    assert.is_nil(st.resume)
    assert.are.equal(expected_table(api, "incr_kill"), table_text(dsn))
  end)

  it("a failing run never advances the cursor (one transaction, and commit-every)", function()
    local dsn = testenv.fresh_db("incr_fail")
    local first, later = {}, {}
    for i = 1, 6 do
      first[i] = sale("F" .. i, string.format("2026-03-0%dT00:00:00Z", i))
      later[i] = sale("L" .. i, string.format("2026-03-1%dT00:00:00Z", i))
    end
    api = since_fixture.start(first)
    local small = { SALES_PAGE_SIZE = "3" }
    local r = run(api, dsn, small)
    assert.are.equal(0, r.code, r.stderr)
    local before = state_of(dsn)
    assert.are.equal("2026-03-06T00:00:00Z", before.cursor)

    api.add(later)
    api.fail(2, 500) -- the second page of the next window keeps failing
    r = run(api, dsn, small)
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("HTTP 500", r.stderr)
    assert.are.same(before, state_of(dsn))
    assert.are.equal("6", psql(dsn, "SELECT count(*) FROM fact_sales")) -- page 1 rolled back with it

    -- too many rejects fails the run too: an impossible date, and no reject allowed
    api.fail(nil)
    api.add({ sale("L2", "2026-03-12T00:00:00Z", "not money") })
    r = run(api, dsn, { SALES_PAGE_SIZE = "3", SALES_MAX_REJECTS = "0" })
    assert.are.equal(5, r.code, r.stderr)
    assert.are.same(before, state_of(dsn))
    assert.are.equal("6", psql(dsn, "SELECT count(*) FROM fact_sales"))
    api.add({ later[2] })
    api.fail(2, 500)

    local batch = { SALES_PAGE_SIZE = "3", SALES_COMMIT_EVERY = "3" }
    r = run(api, dsn, batch)
    assert.are.equal(3, r.code, r.stderr)
    local st = state_of(dsn)
    assert.are.equal(before.cursor, st.cursor) -- the batch before the failure stays, the cursor does not move
    assert.are.equal(1, math.tointeger(st.resume.page))
    assert.are.equal("2026-03-05T00:00:00Z", st.resume.since)

    api.fail(nil)
    window_of(api)
    r = run(api, dsn, batch)
    assert.are.equal(0, r.code, r.stderr)
    local w = window_of(api)
    assert.are.same({ "2026-03-05T00:00:00Z" }, w.sinces)
    assert.are.equal(2, w.pages[1])
    st = state_of(dsn)
    assert.are.equal("2026-03-16T00:00:00Z", st.cursor)
    assert.is_nil(st.resume)
    assert.are.equal(expected_table(api, "incr_fail"), table_text(dsn))
  end)

  it("two runs at once: the second stops, or waits, and is told which run holds the lock", function()
    local dsn = testenv.fresh_db("incr_lock")
    local records = {}
    for i = 1, 9 do
      records[i] = sale("C" .. i, string.format("2026-04-0%dT00:00:00Z", i))
    end
    api = since_fixture.start(records)
    local small = { SALES_PAGE_SIZE = "3" }
    api.stall(2)
    local a = spawn(api, dsn, small)
    since_fixture.wait_until("the first run to hold page 2", function() return api.stalled() == 1 end)
    local version = state_of(dsn).version

    local b = run(api, dsn, small)
    assert.are.equal(4, b.code, b.stderr)
    assert.matches("pipeline 'sales' is locked by another run", b.stderr, 1, true)
    assert.matches("salesengine sales%-%d+T%d+Z%-" .. a.pid, b.stderr) -- the holder's run id
    assert.matches("this run did not start", b.stderr, 1, true)

    local d = run(api, dsn, { SALES_PAGE_SIZE = "3", SALES_LOCK_WAIT = "0.5" })
    assert.are.equal(4, d.code, d.stderr)
    assert.matches("gave up after waiting 0.5 s", d.stderr, 1, true)

    local c = spawn(api, dsn, { SALES_PAGE_SIZE = "3", SALES_LOCK_WAIT = "120" })
    since_fixture.wait_until("the third run to wait", function()
      return c:stderr():find("waiting for it to be released", 1, true)
    end)
    assert.matches("sales%-%d+T%d+Z%-" .. a.pid, c:stderr())
    assert.are.equal(version, state_of(dsn).version) -- nobody wrote meanwhile
    api.add({ sale("C10", "2026-04-10T00:00:00Z") })
    api.release()
    assert.are.equal(0, a:wait(), a:stderr())
    assert.are.equal(0, c:wait(), c:stderr())
    -- the waiting run started after the first had saved its cursor, and asked from there
    local sinces = window_of(api).sinces
    assert.are.same({ INITIAL, "2026-04-09T00:00:00Z" }, sinces)
    local st = state_of(dsn)
    assert.are.equal("2026-04-10T00:00:00Z", st.cursor)
    assert.are.equal(version + 2, st.version)
    assert.are.equal(expected_table(api, "incr_lock"), table_text(dsn))
  end)

  it("--full-refresh reloads from the initial value; state show and state reset", function()
    local dsn = testenv.fresh_db("incr_reset")
    api = since_fixture.start({ sale("T1", "2026-05-01T00:00:00Z"), sale("T2", "2026-05-02T00:00:00Z"),
      sale("T3", "2026-05-03T00:00:00Z") })
    local r = run(api, dsn)
    assert.are.equal(0, r.code, r.stderr)
    window_of(api)

    local show = state_cmd(dsn, "show", "sales")
    assert.are.equal(0, show.code, show.stderr)
    assert.matches("cursor:      2026-05-03T00:00:00Z (field date)", show.stdout, 1, true)
    assert.matches("lock:        free", show.stdout, 1, true)
    local json = state_cmd(dsn, "show", "--json")
    local shown = cjson.decode(json.stdout)[1]
    assert.are.equal("2026-05-03T00:00:00Z", shown.cursor)
    -- every documented member, null when there is none (issue 15)
    assert.are.same({ cjson.null, cjson.null }, { shown.resume, shown.locked_by })
    local members = {}
    for k in pairs(shown) do members[#members + 1] = k end
    table.sort(members)
    assert.are.same({ "cursor", "cursor_field", "last_run_id", "last_since", "locked_by", "pipeline", "resume",
      "updated_at", "version" }, members)

    -- a cursor set ahead: the next run asks from there and finds nothing
    local set = state_cmd(dsn, "reset", "sales", "--cursor", "2030-01-01T02:00:00+02:00")
    assert.are.equal(0, set.code, set.stderr)
    assert.are.equal("2030-01-01T00:00:00Z", state_of(dsn).cursor)
    r = run(api, dsn)
    assert.are.equal(0, r.code, r.stderr)
    local w = window_of(api)
    assert.are.same({ "2029-12-31T00:00:00Z" }, w.sinces)
    assert.are.same({}, w.ids)

    -- --full-refresh ignores the state, reloads from the initial value and recomputes the cursor
    psql(dsn, "UPDATE fact_sales SET revenue = 0")
    r = run(api, dsn, nil, { "--full-refresh" })
    assert.are.equal(0, r.code, r.stderr)
    w = window_of(api)
    assert.are.same({ INITIAL }, w.sinces)
    assert.are.same({ "T1", "T2", "T3" }, w.ids)
    assert.are.equal("2026-05-03T00:00:00Z", state_of(dsn).cursor)
    assert.are.equal(expected_table(api, "incr_reset"), table_text(dsn))

    -- --dry-run touches no database (issue 15): without WAREHOUSE_DSN, its window starts at the
    -- initial value, or at --since, and it says so; nothing is written
    local before_dry = state_of(dsn)
    r = run(api, dsn, { WAREHOUSE_DSN = false }, { "--dry-run" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ INITIAL }, window_of(api).sinces)
    assert.truthy(r.stderr:find('msg="dry run: the window starts at ' .. INITIAL .. ' (its initial value: a dry ' ..
      'run reads no stored cursor; --since VALUE starts it elsewhere)"', 1, true), r.stderr)
    r = run(api, dsn, { WAREHOUSE_DSN = false }, { "--dry-run", "--since", "2026-05-02T02:00:00+02:00" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "2026-05-02T00:00:00Z" }, window_of(api).sinces)
    assert.are.same(before_dry, state_of(dsn))

    -- reset forgets the state: the next run starts from the initial value
    local reset = state_cmd(dsn, "reset", "sales")
    assert.are.equal(0, reset.code, reset.stderr)
    assert.matches("state reset", reset.stdout, 1, true)
    assert.are.equal("0", psql(dsn, "SELECT count(*) FROM etl_state"))
    show = state_cmd(dsn, "show", "sales")
    assert.matches("no state for pipeline 'sales'", show.stdout, 1, true)
    r = run(api, dsn)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ INITIAL }, window_of(api).sinces)

    -- while a run holds the lock, reset refuses and show names the holder
    api.stall(1)
    local p = spawn(api, dsn)
    since_fixture.wait_until("the run to hold page 1", function() return api.stalled() == 1 end)
    local before = state_of(dsn)
    reset = state_cmd(dsn, "reset", "sales")
    assert.are.equal(4, reset.code)
    assert.matches("is locked by another run", reset.stderr, 1, true)
    assert.matches("state not reset", reset.stderr, 1, true)
    assert.are.same(before, state_of(dsn))
    show = state_cmd(dsn, "show", "sales")
    assert.matches("lock:        held by PostgreSQL session %d+ %(salesengine sales%-", show.stdout)
    api.release()
    assert.are.equal(0, p:wait(), p:stderr())
  end)
end)
