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
    testenv.psql(dsn, "CREATE TABLE m (id text PRIMARY KEY, first_seen text, amount numeric, n int)")
  end)

  teardown(function()
    conn:close()
  end)

  before_each(function()
    testenv.psql(dsn, "TRUNCATE d, m")
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

  it("merges repeated keys as upserting the rows one by one would, and counts keys", function()
    testenv.psql(dsn, "INSERT INTO m VALUES ('k2', 'old', 1, 0)")
    local list = {
      { id = "k1", first_seen = "a", amount = "1.5", n = 1 },
      { id = "k2", first_seen = "b", amount = "2.5", n = 2 },
      { id = "k1", first_seen = "c", amount = "3.5", n = 3 },
      { id = "k3", first_seen = "d", amount = "4.5", n = 4 },
      { id = "k1", first_seen = "e", amount = "5.5", n = 5 },
      { id = "k2", first_seen = "f", amount = "6.5", n = 6 },
      { id = "k4\ttab", first_seen = "g\nline", amount = "7", n = 7 },
      { id = "k4\ttab", first_seen = "h", amount = "8", n = 8 },
    }
    -- the same rows upserted one by one, in order, in a plain (not deferred) upsert each
    assert(conn:begin())
    for _, row in ipairs(list) do
      assert(conn:upsert("m", { row }, { key = "id", update = { "amount", "n" } }))
    end
    local want = conn:query("SELECT id, first_seen, amount::text, n FROM m ORDER BY id")
    assert(conn:rollback())
    assert(conn:begin())
    local handle = assert(conn:upsert("m", list, { key = "id", update = { "amount", "n" }, defer = true }))
    local st = assert(handle:wait())
    assert.are.same({ inserted = 3, updated = 1, unchanged = 0, batches = 1 }, st)
    local got = conn:query("SELECT id, first_seen, amount::text, n FROM m ORDER BY id")
    assert.are.same(want, got)
    assert.are.same({ id = "k1", first_seen = "a", amount = "5.5", n = 5 }, got[1])
    assert.are.same({ id = "k2", first_seen = "old", amount = "6.5", n = 6 }, got[2])
    assert.are.same({ id = "k4\ttab", first_seen = "g\nline", amount = "8", n = 8 }, got[4])
  end)

  it("names the row a bad value came from when repeated keys were merged", function()
    assert(conn:begin())
    local list = {
      { id = "k1", first_seen = "a", amount = "1", n = 1 },
      { id = "k2", first_seen = "b", amount = "2", n = 2 },
      { id = "k1", first_seen = "c", amount = "not a number", n = 3 }, -- update column: from this row
      { id = "k3", first_seen = "d", amount = "4", n = 4 },
    }
    local handle = assert(conn:upsert("m", list, { key = "id", update = { "amount" }, defer = true }))
    local st, err, code = handle:wait()
    assert.is_nil(st)
    assert.are.equal("22P02", code)
    assert.matches("row 3 (id=k1), column amount", err, 1, true)
    assert(conn:rollback())
    assert(conn:begin())
    list[3].amount, list[4].n = "3", "four" -- not an update column: its own row
    handle = assert(conn:upsert("m", list, { key = "id", update = { "amount" }, defer = true }))
    st, err, code = handle:wait()
    assert.is_nil(st)
    assert.are.equal("22P02", code)
    assert.matches("row 4 (id=k3), column n", err, 1, true)
  end)

  it("conn:close() waits for a batch still loading, then closes", function()
    local other = assert(pg.connect(dsn))
    assert(other:begin())
    local handle = assert(other:upsert("d", rows(2000, "a"), { key = "id", defer = true }))
    other:close() -- joins the batch thread before the session goes
    local ok, err = pcall(handle.wait, handle)
    assert.is_false(ok)
    assert.matches("attempt to use a closed connection", err, 1, true)
    handle:close()
    assert.are.equal("0", (testenv.psql(dsn, "SELECT count(*) FROM d"):gsub("\n$", ""))) -- rolled back
  end)

  it("close() drops the result and frees the connection", function()
    assert(conn:begin())
    local handle = assert(conn:upsert("d", rows(3, "a"), { key = "id", defer = true }))
    handle:close()
    assert.are.equal(3, tonumber(conn:query("SELECT count(*) AS n FROM d")[1].n))
  end)

  describe("next(): the following batch encoded while one loads", function()
    local opts = { key = "id", columns = { "id", "v" }, update = { "v" }, skip_unchanged = true, defer = true }

    it("encodes rows without the connection, starts them after wait(), with the same options", function()
      testenv.psql(dsn, "INSERT INTO d VALUES (1, 'x1')")
      assert(conn:begin())
      local first = assert(conn:upsert("d", rows(3000, "a"), opts))
      local list = rows(3500, "b")
      list[3].v = "a3" -- as the first batch left it: skip_unchanged carries over
      list[#list + 1] = { id = 2, v = "b2-again" } -- a repeated key, merged as usual
      local held = assert(first:next(list)) -- first's batch may still be loading
      local ok, err = pcall(held.start, held)
      assert.is_false(ok)
      assert.matches("a deferred upsert is still running on this connection; call its wait() first", err, 1, true)
      assert.are.same({ inserted = 2999, updated = 1, unchanged = 0, batches = 1 }, assert(first:wait()))
      ok, err = pcall(held.wait, held)
      assert.is_false(ok)
      assert.matches("not started (call start())", err, 1, true)
      assert.are.equal(held, assert(held:start()))
      assert.are.same({ inserted = 500, updated = 2999, unchanged = 1, batches = 0 }, assert(held:wait()))
      assert(conn:commit())
      local state = testenv.psql(dsn, "SELECT count(*), count(*) FILTER (WHERE v = 'b' || id), "
        .. "min(v) FILTER (WHERE id = 3), min(v) FILTER (WHERE id = 2) FROM d")
      assert.are.equal("3500|3498|a3|b2-again", (state:gsub("\n$", "")))
    end)

    it("fails for a value that cannot be stored, located, and leaves the running batch alone", function()
      assert(conn:begin())
      local first = assert(conn:upsert("d", rows(10, "a"), opts))
      local list = rows(5, "b")
      list[4].v = {}
      local held, err, code = first:next(list)
      assert.is_nil(held)
      assert.are.equal("INVALID", code)
      assert.matches("row 4 (id=4), column v", err, 1, true)
      assert(first:wait())
      assert(conn:commit())
      assert.are.equal("10", (testenv.psql(dsn, "SELECT count(*) FROM d WHERE v LIKE 'a%'"):gsub("\n$", "")))
    end)

    it("reports a refused row of the held batch at its wait()", function()
      assert(conn:begin())
      local first = assert(conn:upsert("d", rows(5, "a"), opts))
      local list = rows(6, "b")
      list[6].v = pg.null
      local held = assert(first:next(list))
      assert(first:wait())
      assert(held:start())
      local st, err, code = held:wait()
      assert.is_nil(st)
      assert.are.equal("23502", code)
      assert.matches("row 6 (id=6), column v", err, 1, true)
    end)

    it("is refused when misused; a held batch closed unstarted sends nothing", function()
      assert(conn:begin())
      local plain = assert(conn:upsert("d", rows(2, "a"), { key = "id", defer = true })) -- no columns option
      local ok, err = pcall(plain.next, plain, rows(1, "b"))
      assert.is_false(ok)
      assert.matches("next() needs an upsert with the columns option", err, 1, true)
      assert(plain:wait())
      local first = assert(conn:upsert("d", rows(2, "a"), opts))
      ok, err = pcall(first.next, first, {})
      assert.is_false(ok)
      assert.matches("next() needs at least one row", err, 1, true)
      local held = assert(first:next(rows(4, "c")))
      assert(first:wait())
      ok, err = pcall(first.next, first, rows(1, "d"))
      assert.is_false(ok)
      assert.matches("next() is for a started deferred upsert not waited for", err, 1, true)
      held:close()
      ok, err = pcall(held.start, held)
      assert.is_false(ok)
      assert.matches("start() is for an upsert made by next(), once", err, 1, true)
      assert.are.equal(2, tonumber(conn:query("SELECT count(*) AS n FROM d")[1].n))
      local again = assert(conn:upsert("d", rows(2, "a"), opts))
      held = assert(again:next(rows(3, "e")))
      assert(again:wait())
      assert(conn:commit())
      ok, err = pcall(held.start, held)
      assert.is_false(ok)
      assert.matches("start() needs an open transaction", err, 1, true)
    end)
  end)

  it("needs an open transaction", function()
    local ok, err = pcall(conn.upsert, conn, "d", rows(1, "a"), { key = "id", defer = true })
    assert.is_false(ok)
    assert.matches("defer needs an open transaction", err, 1, true)
  end)
end)
