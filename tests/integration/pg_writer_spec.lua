-- conn:upsert_writer(table, opts): rows written gather into batches that a
-- thread loads (under a savepoint) while the script writes more; finish()
-- gives the counts of a plain upsert; a refused row is isolated and handed
-- to on_refused, or fails the writer located. Results are checked with psql.
local testenv = dofile("tests/lib/testenv.lua")
local pg = require "salesengine.pg"

describe("upsert writer", function()
  local dsn, conn

  setup(function()
    dsn = testenv.fresh_db("pg_writer")
    conn = assert(pg.connect(dsn))
    testenv.psql(dsn, "CREATE TABLE d (id int PRIMARY KEY, v text NOT NULL CHECK (v <> 'bad'))")
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

  local function count(where)
    return tonumber((testenv.psql(dsn, "SELECT count(*) FROM d " .. (where or "")):gsub("\n$", "")))
  end

  it("loads every batch and reports the counts at finish()", function()
    assert(conn:begin())
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 10 }))
    assert(w:write(rows(12, "a")))
    assert(w:write(rows(25, "a")))
    assert.are.same({ inserted = 25, updated = 12, unchanged = 0, merged = 0, batches = 4, copied = 25,
      copied_binary = 25 },
      assert(w:finish()))
    w = assert(conn:upsert_writer("d", { key = "id", columns = { "id", "v" }, skip_unchanged = true }))
    assert(w:write(rows(30, "b")))
    assert.are.same({ inserted = 5, updated = 25, unchanged = 0, merged = 0, batches = 1, copied = 0,
      copied_binary = 0 }, assert(w:finish()))
    assert(conn:commit())
    assert.are.equal(30, count("WHERE v = 'b' || id"))
    assert.are.equal(30, count())
  end)

  it("keeps the connection for itself while a batch loads", function()
    assert(conn:begin())
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 10 }))
    assert(w:write(rows(25, "a"))) -- rows 11 to 20 are loading now
    local ok, err = pcall(conn.exec, conn, "SELECT 1")
    assert.is_false(ok)
    assert.matches("an upsert writer is loading on this connection; call its flush() or finish() first", err, 1,
      true)
    assert(w:flush())
    assert.are.equal(25, tonumber(conn:query("SELECT count(*) AS n FROM d")[1].n))
    assert(w:finish())
    ok, err = pcall(w.write, w, rows(1, "a"))
    assert.is_false(ok)
    assert.matches("attempt to use a finished upsert writer", err, 1, true)
  end)

  it("without on_refused, fails at the first refused row, located, numbered from first_row", function()
    assert(conn:begin())
    local list = rows(12, "a")
    list[11].v = pg.null
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 5, first_row = 1001 }))
    assert(w:write(list))
    local st, err, code = w:finish()
    assert.is_nil(st)
    assert.are.equal("23502", code)
    assert.matches("upsert into d: row 1011 (id=11), column v", err, 1, true)
    local ok, perr = pcall(w.write, w, rows(1, "a"))
    assert.is_false(ok)
    assert.matches("attempt to use an upsert writer that failed", perr, 1, true)
  end)

  it("stops the batches prepared behind a failed one: the writer fails, closes, and the connection goes on", function()
    -- batches of 5: row 8 fails the second while the ones behind it are prepared on their threads
    assert(conn:begin())
    local list = rows(40, "a")
    list[8].v = pg.null
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 5 }))
    local st, err, code = w:write(list)
    if st then
      st, err, code = w:finish()
    end
    assert.is_nil(st)
    assert.are.same({ "23502", true }, { code, err:find("upsert into d: row 8 (id=8), column v", 1, true) ~= nil })
    w:close()
    assert(conn:rollback())
    assert.are.equal(1, tonumber(conn:query("SELECT 1 AS one")[1].one))
    assert.are.equal(0, count())
  end)

  it("with on_refused, isolates each refused row and loads the rest", function()
    assert(conn:begin())
    local list = rows(40, "a")
    list[3].v = pg.null -- not null
    list[17].v = "bad" -- check constraint
    list[18].v = {} -- cannot be encoded
    list[39].id = "x" -- not an integer
    local context = { "the records" }
    local refused = {}
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 16, on_refused = function(ctx, i, msg, c)
      assert.are.equal(context, ctx)
      refused[#refused + 1] = { i, c, msg }
    end }))
    assert(w:write(list, context))
    local st = assert(w:finish())
    table.sort(refused, function(a, b) return a[1] < b[1] end)
    assert.are.same({ 3, 17, 18, 39 }, { refused[1][1], refused[2][1], refused[3][1], refused[4][1] })
    assert.are.same({ "23502", "23514", "INVALID", "22P02" },
      { refused[1][2], refused[2][2], refused[3][2], refused[4][2] })
    assert.matches("upsert into d: row 3 (id=3), column v: ", refused[1][3], 1, true)
    assert.matches("upsert into d: row 17 (id=17)", refused[2][3], 1, true)
    assert.matches("row 18 (id=18), column v ", refused[3][3], 1, true)
    assert.matches("upsert into d: row 39 (id=x), column id: ", refused[4][3], 1, true)
    assert.are.same({ inserted = 36, updated = 0, unchanged = 0, merged = 0, batches = 3, copied = 0,
      copied_binary = 0 }, st)
    assert(conn:commit())
    assert.are.equal(36, count())
    assert.are.equal(0, count("WHERE id IN (3, 17, 18)"))
  end)

  it("merges repeated keys as upserting the rows one by one would, and counts them", function()
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
    assert(conn:begin())
    for _, row in ipairs(list) do -- one by one, in order
      assert(conn:upsert("m", { row }, { key = "id", update = { "amount", "n" } }))
    end
    local want = conn:query("SELECT id, first_seen, amount::text, n FROM m ORDER BY id")
    assert(conn:rollback())
    assert(conn:begin())
    local w = assert(conn:upsert_writer("m", { key = "id", update = { "amount", "n" } }))
    assert(w:write(list))
    assert.are.same({ inserted = 3, updated = 1, unchanged = 0, merged = 4, batches = 1, copied = 0,
      copied_binary = 0 },
      assert(w:finish()))
    local got = conn:query("SELECT id, first_seen, amount::text, n FROM m ORDER BY id")
    assert.are.same(want, got)
    assert.are.same({ id = "k1", first_seen = "a", amount = "5.5", n = 5 }, got[1])
    assert.are.same({ id = "k4\ttab", first_seen = "g\nline", amount = "8", n = 8 }, got[4])
  end)

  it("names the row a bad value came from when repeated keys were merged", function()
    local list = {
      { id = "k1", first_seen = "a", amount = "1", n = 1 },
      { id = "k2", first_seen = "b", amount = "2", n = 2 },
      { id = "k1", first_seen = "c", amount = "not a number", n = 3 }, -- update column: from this row
      { id = "k3", first_seen = "d", amount = "4", n = 4 },
    }
    assert(conn:begin())
    local w = assert(conn:upsert_writer("m", { key = "id", update = { "amount" } }))
    assert(w:write(list))
    local st, err, code = w:finish()
    assert.is_nil(st)
    assert.are.equal("22P02", code)
    assert.matches("row 3 (id=k1), column amount", err, 1, true)
    assert(conn:rollback())
    assert(conn:begin())
    list[3].amount, list[4].n = "3", "four" -- not an update column: its own row
    w = assert(conn:upsert_writer("m", { key = "id", update = { "amount" } }))
    assert(w:write(list))
    st, err, code = w:finish()
    assert.is_nil(st)
    assert.are.equal("22P02", code)
    assert.matches("row 4 (id=k3), column n", err, 1, true)
  end)

  it("without a columns option, follows the columns the rows carry", function()
    assert(conn:begin())
    local w = assert(conn:upsert_writer("m", { key = "id", batch_size = 2 }))
    assert(w:write({ { id = "a", amount = 1 }, { id = "b", amount = 2 }, { id = "c", amount = 3 } }))
    assert(w:write({ { id = "d", amount = 4, n = 40 }, { id = "a", amount = 5, n = 50 } }))
    assert.are.same({ inserted = 4, updated = 1, unchanged = 0, merged = 0, batches = 3, copied = 3,
      copied_binary = 3 },
      assert(w:finish()))
    local got = conn:query("SELECT id, amount::text, n FROM m ORDER BY id")
    assert.are.same({ { id = "a", amount = "5", n = 50 }, { id = "b", amount = "2", n = pg.null },
      { id = "c", amount = "3", n = pg.null }, { id = "d", amount = "4", n = 40 } }, got)
  end)

  -- Writes list into m under opts (batches of 4) in a transaction it rolls back; returns the
  -- table as the writer left it, finish()'s stats (or nil, message, code) and the refusals.
  local function load_m(list, opts)
    assert(conn:begin())
    local refused = {}
    local o = { key = "id", update = { "amount", "n" }, batch_size = 4 }
    for k, v in pairs(opts) do
      o[k] = v
    end
    if o.on_refused then
      o.on_refused = function(_, i, msg, c)
        refused[#refused + 1] = { i, c, msg }
      end
    end
    local w = assert(conn:upsert_writer("m", o))
    local st, err, code = w:write(list) -- a batch's failure may come with a later write
    if st then
      st, err, code = w:finish()
    end
    local got = conn:query("SELECT id, first_seen, amount::text, n FROM m ORDER BY id")
    w:close()
    assert(conn:rollback())
    table.sort(refused, function(a, b) return a[1] < b[1] end)
    return got, st or { err, code }, refused
  end

  it("COPYs rows of new keys straight in, and leaves what the merge alone leaves", function()
    -- keys repeated within and across batches, keys the table held before the run (in a late
    -- batch, after batches went straight in), and bad values in both kinds of rows
    local list = {}
    for i = 1, 30 do
      local id = i <= 20 and "n" .. i or "n" .. (i - 17) -- rows 21 to 30 repeat n4 to n13
      list[i] = { id = id, first_seen = "r" .. i, amount = tostring(i), n = i }
    end
    list[6].id = "n5" -- a repeat inside a batch
    list[23] = { id = "old2", first_seen = "r23", amount = "23", n = 23 } -- held before the run
    list[9].amount = "not a number" -- a new key's bad value
    list[26].n = "x" -- a bad value of a key sent before
    testenv.psql(dsn, "INSERT INTO m VALUES ('old1', 'old', 1, 0), ('old2', 'old', 2, 0)")
    for _, isolate in ipairs({ true, false }) do
      local opts = { on_refused = isolate or nil }
      local merged, merged_st, merged_refused = load_m(list, { copy_new_keys = false, on_refused = opts.on_refused })
      local got, st, refused = load_m(list, opts)
      assert.are.same(merged, got)
      assert.are.same(merged_refused, refused)
      if isolate then
        assert.are.same({ 9, 26 }, { refused[1][1], refused[2][1] })
        assert.are.equal(0, merged_st.copied)
        assert.is_true(st.copied > 0 and st.copied <= st.inserted, "rows COPYed straight in: " .. st.copied)
        merged_st.copied, st.copied, merged_st.copied_binary, st.copied_binary = nil, nil, nil, nil
        assert.are.same(merged_st, st)
        assert.are.equal(20, #got) -- n1 to n20 but n6 (row 23 replaced) and n9 (refused), old1, old2
      else
        assert.are.same({ 'upsert into m: row 9 (id=n9), column amount: invalid input syntax for type numeric: ' ..
          '"not a number"', "22P02" }, { st[1]:match("^[^\n]*"), st[2] })
        assert.are.same(merged_st, st)
      end
    end
    -- a bad value in a row of a key sent before, behind rows that went straight in: its row is named
    local late = {}
    for i, id in ipairs({ "a", "b", "c", "d", "e", "b", "f" }) do
      late[i] = { id = id, amount = i == 6 and "six" or tostring(i), n = i }
    end
    local _, st = load_m(late, {})
    assert.are.same({ 'upsert into m: row 6 (id=b), column amount: invalid input syntax for type numeric: "six"',
      "22P02" }, { st[1]:match("^[^\n]*"), st[2] })
  end)

  it("merges every batch after one that found the table holding a key, also those prepared before it did", function()
    -- batches of 4: the third holds a key the table had; the batches behind it were written (and
    -- sorted on their threads) before it reached the server
    local list = {}
    for i = 1, 40 do
      list[i] = { id = "k" .. i, first_seen = "r" .. i, amount = tostring(i), n = i }
    end
    list[10].id = "old1"
    testenv.psql(dsn, "INSERT INTO m VALUES ('old1', 'old', 1, 0)")
    local merged, merged_st = load_m(list, { copy_new_keys = false })
    local got, st = load_m(list, {})
    assert.are.same(merged, got)
    assert.are.same({ 39, 1, 8 }, { st.inserted, st.updated, st.copied }) -- the first two batches only
    st.copied, st.copied_binary, merged_st.copied, merged_st.copied_binary = nil, nil, nil, nil
    assert.are.same(merged_st, st)
  end)

  it("makes its staging table only when a batch holds a key sent before, and drops it at finish()", function()
    local function staging_tables()
      return tonumber(conn:query("SELECT count(*) AS n FROM pg_class WHERE relpersistence = 't' " ..
        "AND relname LIKE 'se\\_stage\\_%'")[1].n)
    end
    assert(conn:begin())
    local w = assert(conn:upsert_writer("d", { key = "id", batch_size = 10 }))
    assert(w:write(rows(25, "a"))) -- new keys only: straight into the table
    assert(w:flush())
    assert.are.equal(0, staging_tables())
    assert(w:write(rows(3, "b"))) -- keys sent before: merged through the staging table
    assert(w:flush())
    assert.are.equal(1, staging_tables())
    assert.are.same({ inserted = 25, updated = 3, unchanged = 0, merged = 0, batches = 4, copied = 25,
      copied_binary = 25 }, assert(w:finish()))
    assert.are.equal(0, staging_tables())
    assert.are.equal(3, tonumber(conn:query("SELECT count(*) AS n FROM d WHERE v = 'b' || id")[1].n))
    assert.are.equal(25, tonumber(conn:query("SELECT count(*) AS n FROM d")[1].n))
  end)

  it("sends rows straight in COPY's binary format when it can, and the table ends as with COPY text", function()
    testenv.psql(dsn, [[CREATE TABLE IF NOT EXISTS kinds (id text PRIMARY KEY, vc varchar(12), s int2, i int4,
      b int8, n numeric, n2 numeric(6, 2), ts timestamptz, ts0 timestamptz(0))]])
    -- values generated around each converter's edges; those without a certain binary form make
    -- their batch go as text, and the values the table refuses are refused alike either way
    local texts = { "plain", "tab\there", "new\nline", "back\\slash\\N", "cr\rx", "", "\\N", "ünï €", "x" }
    local nums = { "0", "-0.00", "79.82", "0.05", "007.50", "-12345678.90123", "10000", "99999999999999999999.5",
      "1.005", "-1.005", "9999.995", "123", "0.0001", "1" }
    local small = { "0", "-0.00", "79.82", "0.05", "007.50", "1.005", "-1.005", "9999.994", "-9999.99", "0.0001" }
    local stamps = { "2024-01-07T20:41:59+00:00", "2024-02-29 23:59:59.5-05:30", "1999-12-31T23:59:59.999999Z",
      "0001-01-01T00:00:00+15:59", "9999-12-31T23:59:59+00:00", "2024-06-30T12:00:00.123456+02:00",
      "2000-01-01T00:00:00.5Z", "2100-03-01T00:00:00-14:00" }
    local odd = { [17] = { ts = "2024-01-07T20:41:59" }, [40] = { n = "1e5" }, [58] = { s = "+7" },
      [71] = { n2 = "12345.678" }, [86] = { i = "2147483648" }, [93] = { ts = "2024-02-30T00:00:00Z" },
      [99] = { vc = "longer than twelve" } }
    local list = {}
    for r = 1, 120 do
      local row = { id = "k" .. r, vc = texts[r % #texts + 1]:sub(1, 12), s = tostring((r * 331) % 65536 - 32768),
        i = tostring(r % 2 == 0 and -r * 17890001 or r), b = tostring(r * 76543210987654),
        n = nums[r % #nums + 1], n2 = small[r % #small + 1],
        ts = stamps[r % #stamps + 1], ts0 = stamps[(r * 3) % #stamps + 1] }
      for k, v in pairs(odd[r] or {}) do
        row[k] = v
      end
      if r % 23 == 0 then
        row.vc, row.n = pg.null, pg.null
      end
      list[r] = row
    end
    local function load(binary)
      testenv.psql(dsn, "TRUNCATE kinds")
      assert(conn:begin())
      local refused = {}
      local w = assert(conn:upsert_writer("kinds", { key = "id", batch_size = 16, copy_binary = binary,
        on_refused = function(_, i, msg, c) refused[#refused + 1] = table.concat({ i, c, msg }, " ") end }))
      assert(w:write(list))
      local st = assert(w:finish())
      assert(conn:commit())
      table.sort(refused)
      return testenv.psql(dsn, "SELECT * FROM kinds ORDER BY id"), st, refused
    end
    local text_table, text_st, text_refused = load(false)
    local got, st, refused = load(true)
    assert.are.equal(text_table, got)
    assert.are.same(text_refused, refused)
    assert.are.equal(0, text_st.copied_binary)
    -- batches of 16 rows: those of rows 17, 40 and 58 (the 2nd to 4th) go as text, those of the rows
    -- the table refuses (71, 86 and 93, 99: the 5th to 7th) through the merge, the 1st and the 8th
    -- (8 rows) in binary
    assert.are.equal(4, #refused, table.concat(refused, "\n"))
    assert.are.equal(16 + 8, st.copied_binary)
    assert.are.equal(16 + 16 * 3 + 8, st.copied)
    text_st.copied_binary, st.copied_binary = nil, nil
    assert.are.same(text_st, st)
  end)

  it("conn:close() waits for a batch still loading, then closes", function()
    local other = assert(pg.connect(dsn))
    assert(other:begin())
    local w = assert(other:upsert_writer("d", { key = "id", batch_size = 500 }))
    assert(w:write(rows(2000, "a")))
    other:close() -- joins the batch thread before the session goes
    local ok, err = pcall(w.write, w, rows(1, "a"))
    assert.is_false(ok)
    assert.matches("attempt to use a closed connection", err, 1, true)
    w:close()
    assert.are.equal(0, count()) -- rolled back
  end)

  it("close() waits for a loading batch and frees the connection", function()
    assert(conn:begin())
    do
      local w <close> = assert(conn:upsert_writer("d", { key = "id", batch_size = 2 }))
      assert(w:write(rows(3, "a")))
    end
    assert(conn:exec("SELECT 1"))
  end)

  it("is refused when misused", function()
    local ok, err = pcall(conn.upsert_writer, conn, "d", { key = "id" })
    assert.is_false(ok)
    assert.matches("an upsert writer needs an open transaction (call begin() first)", err, 1, true)
    assert(conn:begin())
    ok, err = pcall(conn.upsert_writer, conn, "d", { key = "id", defer = true })
    assert.is_false(ok)
    assert.matches("unknown option 'defer'", err, 1, true)
    local w, werr, code = conn:upsert_writer("nope", { key = "id" })
    assert.is_nil(w)
    assert.are.equal("42P01", code)
    assert.matches("nope", werr, 1, true)
  end)
end)
