-- conn:upsert(..., {defer = true}): the last batch's merge runs on the server
-- while the script goes on; handle:wait() gives the same statistics or error
-- as a plain upsert, and the connection refuses other work until then.
-- Results are checked with psql.
local testenv = dofile("tests/lib/testenv.lua")
local pg = require "salesengine.pg"

describe("deferred upsert", function()
  local dsn, conn

  setup(function()
    dsn = testenv.fresh_db("pg_defer")
    conn = assert(pg.connect(dsn))
    testenv.psql(dsn, "CREATE TABLE d (id int PRIMARY KEY, v text NOT NULL)")
  end)

  teardown(function()
    conn:close()
  end)

  before_each(function()
    testenv.psql(dsn, "TRUNCATE d")
  end)

  after_each(function()
    conn:rollback()
  end)

  local function rows(n, prefix)
    local list = {}
    for i = 1, n do
      list[i] = { id = i, v = prefix .. i }
    end
    return list
  end

  it("loads every batch and reports the counts once waited for", function()
    assert(conn:begin())
    local handle = assert(conn:upsert("d", rows(25, "a"), { key = "id", defer = true, batch_size = 10 }))
    local st = assert(handle:wait())
    assert.are.same({ inserted = 25, updated = 0, unchanged = 0, batches = 3 }, st)
    handle = assert(conn:upsert("d", rows(30, "b"), { key = "id", defer = true, skip_unchanged = true }))
    st = assert(handle:wait())
    assert.are.same({ inserted = 5, updated = 25, unchanged = 0, batches = 1 }, st)
    assert(conn:commit())
    local state = testenv.psql(dsn, "SELECT count(*) FILTER (WHERE v = 'b' || id), count(*) FROM d")
    assert.are.equal("30|30", (state:gsub("\n$", "")))
  end)

  it("keeps the connection for itself until wait()", function()
    assert(conn:begin())
    local handle = assert(conn:upsert("d", rows(3, "a"), { key = "id", defer = true }))
    local ok, err = pcall(conn.exec, conn, "SELECT 1")
    assert.is_false(ok)
    assert.matches("a deferred upsert is still running on this connection", err, 1, true)
    assert(handle:wait())
    assert(conn:exec("SELECT 1"))
    ok, err = pcall(handle.wait, handle)
    assert.is_false(ok)
    assert.matches("attempt to use a finished upsert", err, 1, true)
  end)

  it("reports a refused row of the last batch at wait(), located", function()
    assert(conn:begin())
    local list = rows(12, "a")
    list[11].v = pg.null
    local handle = assert(conn:upsert("d", list, { key = "id", defer = true, batch_size = 5 }))
    local st, err, code = handle:wait()
    assert.is_nil(st)
    assert.are.equal("23502", code)
    assert.matches("row 11 (id=11), column v", err, 1, true)
  end)

  it("close() drops the result and frees the connection", function()
    assert(conn:begin())
    local handle = assert(conn:upsert("d", rows(3, "a"), { key = "id", defer = true }))
    handle:close()
    assert.are.equal(3, tonumber(conn:query("SELECT count(*) AS n FROM d")[1].n))
  end)

  it("needs an open transaction", function()
    local ok, err = pcall(conn.upsert, conn, "d", rows(1, "a"), { key = "id", defer = true })
    assert.is_false(ok)
    assert.matches("defer needs an open transaction", err, 1, true)
  end)
end)
