-- salesengine.state against PostgreSQL: the etl_state table, compare-and-set
-- writes that commit or roll back with the caller's transaction, and the
-- per-pipeline advisory lock (held, waited for, released by a dying session).
local testenv = dofile("tests/lib/testenv.lua")
local since_fixture = dofile("tests/lib/since_fixture.lua")
local state = require "salesengine.state"
local pg = require "salesengine.pg"

local function psql(dsn, sql)
  return (testenv.psql(dsn, sql):gsub("\n$", ""))
end

-- A background salesengine that takes pipeline name's lock (application_name
-- "holder"), writes a line to stderr, and holds it for seconds.
local function hold_lock(dsn, name, seconds)
  local code = string.format([[
local state = require "salesengine.state"
local conn = assert(require("salesengine.pg").connect(%q))
conn:exec("SELECT set_config('application_name', 'holder', false)")
assert(state.lock(conn, %q))
io.stderr:write("locked\n")
require("salesengine.sys").sleep(%g)
]], dsn, name, seconds)
  local p = since_fixture.spawn({ testenv.bin, "-e", code })
  since_fixture.wait_until("the lock holder", function() return p:stderr():find("locked", 1, true) end)
  return p
end

describe("salesengine.state", function()
  local dsn, conn

  before_each(function()
    dsn = testenv.fresh_db("state_store")
    conn = assert(pg.connect(dsn))
  end)

  after_each(function()
    conn:close()
  end)

  it("reads no state before the table exists, then creates it once", function()
    assert.is_false(state.read(conn, "sales"))
    assert.are.same({}, state.list(conn))
    assert.is_true(state.ensure(conn))
    assert.is_true(state.ensure(conn))
    assert.is_true(state.init(conn, "sales"))
    assert.is_true(state.init(conn, "sales"))
    local row = state.read(conn, "sales")
    assert.are.same({ "sales", 0 }, { row.pipeline, row.version })
    assert.is_nil(row.cursor)
    assert.is_nil(row.resume)
    assert.are.equal(1, #state.list(conn))
  end)

  it("is created safely by runs that start at the same moment", function()
    local procs = {}
    for i = 1, 4 do
      procs[i] = since_fixture.spawn({ testenv.bin, "-e", string.format([[
local state = require "salesengine.state"
local conn = assert(require("salesengine.pg").connect(%q))
assert(state.ensure(conn))
assert(state.init(conn, "p%d"))]], dsn, i) })
    end
    for i = 1, 4 do
      assert.are.equal(0, procs[i]:wait(), procs[i]:stderr())
    end
    assert.are.equal("4", psql(dsn, "SELECT count(*) FROM etl_state"))
  end)

  it("saves with the caller's transaction, guarded by the version", function()
    assert(state.ensure(conn))
    assert(state.init(conn, "sales"))
    -- rolled back with the rows
    assert(conn:begin())
    assert.are.equal(1, state.save(conn, "sales", 0, { cursor = "2026-01-02T00:00:00Z", cursor_field = "date",
      since = "2026-01-01T00:00:00Z", run_id = "r1" }))
    assert(conn:rollback())
    assert.is_nil(state.read(conn, "sales").cursor)
    -- committed
    local ok, err = conn:transaction(function(c)
      return state.save(c, "sales", 0, { cursor = "2026-01-02T00:00:00Z", cursor_field = "date",
        since = "2026-01-01T00:00:00Z", run_id = "r1" })
    end)
    assert.are.equal(1, ok, err)
    local row = state.read(conn, "sales")
    assert.are.same({ "2026-01-02T00:00:00Z", "date", "2026-01-01T00:00:00Z", "r1", 1 },
      { row.cursor, row.cursor_field, row.last_since, row.last_run_id, row.version })
    -- a stale version changes nothing
    local v, msg, code = state.save(conn, "sales", 0, { cursor = "2027-01-01T00:00:00Z" })
    assert.is_nil(v)
    assert.are.equal("CONFLICT", code)
    assert.matches("was changed or reset by someone else", msg, 1, true)
    assert.are.equal("2026-01-02T00:00:00Z", state.read(conn, "sales").cursor)
    -- progress leaves the cursor alone; a completed save clears it
    assert.are.equal(2, state.save_progress(conn, "sales", 1, { run_id = "r2", since = "s", page = 3 }))
    row = state.read(conn, "sales")
    assert.are.same({ "2026-01-02T00:00:00Z", "integer", 3 }, { row.cursor, math.type(row.resume.page),
      row.resume.page })
    assert.are.equal(3, state.save(conn, "sales", 2, { cursor = 42 }))
    row = state.read(conn, "sales")
    -- an integer cursor comes back an integer (a page number or an id goes into URLs as "42", not "42.0")
    assert.are.same({ "integer", 42, nil }, { math.type(row.cursor), row.cursor, row.resume })
  end)

  it("resets to nothing, or to a given cursor", function()
    assert.are.same({ true, 0 }, { state.reset(conn, "sales") }) -- no table yet: nothing to do
    assert(state.ensure(conn))
    assert.are.same({ true, 1 }, { state.reset(conn, "sales", "2026-05-01T00:00:00Z") })
    assert(state.save_progress(conn, "sales", 0, { page = 2, since = "x" }))
    assert.are.same({ true, 1 }, { state.reset(conn, "sales", "2026-06-01T00:00:00Z") })
    local row = state.read(conn, "sales")
    assert.are.same({ "2026-06-01T00:00:00Z", nil, 2 }, { row.cursor, row.resume, row.version })
    assert.are.same({ true, 1 }, { state.reset(conn, "sales") })
    assert.is_false(state.read(conn, "sales"))
  end)

  it("locks a pipeline: a second session is refused with the holder's name, other pipelines are free", function()
    local p = hold_lock(dsn, "sales", 30)
    local ok, err, code = state.lock(conn, "sales")
    assert.is_nil(ok)
    assert.are.equal("LOCKED", code)
    assert.matches("pipeline 'sales' is locked by another run: PostgreSQL session %d+ %(holder, from local", err)
    local h = state.holder(conn, "sales")
    assert.are.equal("holder", h.application_name)
    assert.is_false(state.holder(conn, "other"))
    assert.is_true(state.lock(conn, "other"))
    assert.is_true(state.unlock(conn, "other"))
    -- a session that dies releases its lock
    assert.are.equal(137, p:kill())
    since_fixture.wait_until("the lock to be released", function() return state.holder(conn, "sales") == false end)
    assert.is_true(state.lock(conn, "sales"))
    assert.is_true(state.unlock(conn, "sales"))
  end)

  it("waits for the lock when asked, saying why, or gives up after the timeout", function()
    local p = hold_lock(dsn, "sales", 30)
    local said
    local ok, err, code = state.lock(conn, "sales", { wait = true, timeout = 0.3,
      on_wait = function(m) said = m end })
    assert.is_nil(ok)
    assert.are.equal("LOCKED", code)
    assert.matches("gave up after waiting 0.3 s", err, 1, true)
    assert.matches("waiting for it to be released", said, 1, true)
    p:kill()
    p = hold_lock(dsn, "sales", 3)
    said = nil
    assert.is_true(state.lock(conn, "sales", { wait = true, on_wait = function(m) said = m end }))
    assert.matches("holder", said, 1, true)
    assert.are.equal(0, p:wait())
    -- lock_timeout is back to its default afterwards
    assert.are.equal("0", conn:query("SHOW lock_timeout")[1].lock_timeout)
    assert.is_true(state.unlock(conn, "sales"))
  end)
end)
