-- conn:upsert: exact values, duplicate and composite keys, odd identifiers,
-- subset updates, skip_unchanged, injection attempts and clear errors.
-- Every result is checked with psql, not only through the module.
local testenv = dofile("tests/lib/testenv.lua")
local pg = require "salesengine.pg"

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

describe("conn:upsert", function()
  local dsn, conn

  setup(function()
    dsn = testenv.fresh_db("pg_upsert")
    conn = assert(pg.connect(dsn))
  end)

  teardown(function()
    conn:close()
  end)

  after_each(function()
    conn:rollback() -- a failed test must not leave its transaction open for the next
  end)

  it("round-trips every value type exactly", function()
    testenv.psql(dsn, [[CREATE TABLE vals (id int8 PRIMARY KEY, s text, f float8, i int8, b bool,
      ts timestamptz, j jsonb, js json, n numeric, raw bytea, d date)]])
    local strings = {
      "tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\", "quote ' \" `", "emoji 😀🎉",
      "中文字符", "", " leading and trailing ", "x'); DROP TABLE vals; --", "\1\2\27 controls",
    }
    local rows = {}
    for k, s in ipairs(strings) do
      rows[#rows + 1] = { id = k, s = s }
    end
    rows[#rows + 1] = { id = 100, f = 0.1 + 0.2, i = 9007199254740993, b = true, n = "12345678901234567890.0123456789",
      ts = "2026-03-01T10:00:00+05:30", d = "2026-02-28",
      j = { a = { 1, 2.5, "x", { deep = { true, false, pg.null } } }, empty_list = pg.json_array(),
            empty_obj = pg.json_object(), big = 9007199254740993, tiny = 0.1 },
      js = { 3, 2, 1 }, raw = "\0\1\255bytes" }
    rows[#rows + 1] = { id = 101, f = 1e300, i = -9223372036854775807 - 1, b = false, n = 0.1,
      ts = "2026-03-01T10:00:00-04:00", j = {}, js = "[]", s = pg.null }
    rows[#rows + 1] = { id = 102, f = -1e-300, i = math.maxinteger, ts = "2026-03-01 10:00:00Z",
      j = '{"pre": "encoded"}', n = 42 }
    rows[#rows + 1] = { id = 103, f = math.huge, ts = "2026-03-01T10:00:00.123456+00:00" }
    rows[#rows + 1] = { id = 104, f = -math.huge }
    local stats = assert(conn:upsert("vals", rows, { key = "id" }))
    assert.are.same({ inserted = #rows, updated = 0, unchanged = 0, batches = 1 }, stats)

    for k, s in ipairs(strings) do
      assert.are.equal(hex(s) .. "\n", testenv.psql(dsn, "SELECT encode(convert_to(s, 'UTF8'), 'hex') FROM vals "
        .. "WHERE id = " .. k), "string " .. k)
    end
    assert.are.equal("t|9007199254740993|t|12345678901234567890.0123456789|1772339400|2026-02-28\n",
      testenv.psql(dsn, "SELECT f = 0.1::float8 + 0.2::float8, i, b, n, extract(epoch FROM ts)::bigint, d "
        .. "FROM vals WHERE id = 100"))
    assert.are.equal("1e+300|-9223372036854775808|f|0.1|1772373600|t\n",
      testenv.psql(dsn, "SELECT f, i, b, n, extract(epoch FROM ts)::bigint, s IS NULL FROM vals WHERE id = 101"))
    assert.are.equal("-1e-300|9223372036854775807|1772359200|42\n",
      testenv.psql(dsn, "SELECT f, i, extract(epoch FROM ts)::bigint, n FROM vals WHERE id = 102"))
    assert.are.equal("Infinity|1772359200.123456\n-Infinity|\n",
      testenv.psql(dsn, "SELECT f, extract(epoch FROM ts) FROM vals WHERE id IN (103, 104) ORDER BY id"))
    assert.are.equal(
      '{"a": [1, 2.5, "x", {"deep": [true, false, null]}], "big": 9007199254740993, "tiny": 0.1, '
        .. '"empty_obj": {}, "empty_list": []}|[3,2,1]|\\x0001ff6279746573\n',
      testenv.psql(dsn, "SELECT j, js, raw FROM vals WHERE id = 100"))
    assert.are.equal("{}|[]\n[]|\n", testenv.psql(dsn, "SELECT j, js FROM vals WHERE id IN (101, 102) ORDER BY id")
      :gsub('{"pre": "encoded"}', "[]"))
    assert.are.equal('{"pre": "encoded"}\n', testenv.psql(dsn, "SELECT j FROM vals WHERE id = 102"))
    assert.are.equal("t\n", testenv.psql(dsn, "SELECT bool_and(raw IS NULL) FROM vals WHERE id <> 100"))

    -- empty_as = "array" turns unmarked empty tables into [], marked ones keep their kind
    assert(conn:upsert("vals", { { id = 101, j = {} }, { id = 102, j = pg.json_object() } },
      { key = "id", empty_as = "array" }))
    assert.are.equal("[]\n{}\n", testenv.psql(dsn, "SELECT j FROM vals WHERE id IN (101, 102) ORDER BY id"))

    -- the values come back through query() unchanged
    local back = assert(conn:query("SELECT id, s FROM vals WHERE id <= $1 ORDER BY id", #strings))
    for k, s in ipairs(strings) do
      assert.are.equal(s, back[k].s)
    end
  end)

  it("keeps the last occurrence of a key within and across batches", function()
    testenv.psql(dsn, "CREATE TABLE dup (id text PRIMARY KEY, v int NOT NULL, note text)")
    local rows = {}
    for round = 1, 3 do
      for i = 1, 10 do
        rows[#rows + 1] = { id = "k" .. i, v = round * 100 + i, note = "round " .. round }
      end
    end
    -- batch_size 7: duplicates inside batches and spread over several
    local stats = assert(conn:upsert("dup", rows, { key = "id", batch_size = 7 }))
    -- batches: k1-7 new | k8-10 new, k1-4 again | k5-10, k1 | k2-8 | k9-10
    assert.are.same({ inserted = 10, updated = 20, unchanged = 0, batches = 5 }, stats)
    local want = {}
    for i = 1, 10 do want[#want + 1] = string.format("k%d|%d|round 3\n", i, 300 + i) end
    table.sort(want, function(a, b) return a:match("^[^|]*") < b:match("^[^|]*") end)
    assert.are.equal(table.concat(want), testenv.psql(dsn, "SELECT * FROM dup ORDER BY id COLLATE \"C\""))

    -- one batch holding every round: the row-number order decides
    assert(conn:exec("TRUNCATE dup"))
    stats = assert(conn:upsert("dup", rows, { key = "id" }))
    assert.are.same({ inserted = 10, updated = 0, unchanged = 0, batches = 1 }, stats)
    assert.are.equal(table.concat(want), testenv.psql(dsn, "SELECT * FROM dup ORDER BY id COLLATE \"C\""))

    -- keys that are equal in PostgreSQL but spelled differently (" 7" and "7" for an integer key)
    testenv.psql(dsn, "CREATE TABLE dupi (id int PRIMARY KEY, v text)")
    stats = assert(conn:upsert("dupi", { { id = 7, v = "a" }, { id = " 7", v = "b" }, { id = 7.0, v = "c" } },
      { key = "id" }))
    assert.are.same({ inserted = 1, updated = 0, unchanged = 0, batches = 1 }, stats)
    assert.are.equal("7|c\n", testenv.psql(dsn, "SELECT * FROM dupi"))
  end)

  it("leaves what row-by-row upserts in order would, however the rows fall into batches", function()
    -- With update = {"v"}, the first occurrence of a new key inserts every column and later ones
    -- only update v: note must stay the first occurrence's, v must be the last's.
    testenv.psql(dsn, "CREATE TABLE dup_subset (id text PRIMARY KEY, v int NOT NULL, note text)")
    testenv.psql(dsn, "INSERT INTO dup_subset VALUES ('old', 1, 'kept')")
    local rows = {
      { id = "new", v = 1, note = "first" }, { id = "old", v = 2, note = "ignored" },
      { id = "new", v = 2, note = "second" }, { id = "new", v = 3, note = "third" },
      { id = "old", v = 3, note = "ignored too" },
    }
    local want = "new|3|first\nold|3|kept\n"
    for _, batch_size in ipairs({ 1, 2, 3, 100 }) do
      testenv.psql(dsn, "DELETE FROM dup_subset WHERE id = 'new'; UPDATE dup_subset SET v = 1")
      assert(conn:upsert("dup_subset", rows, { key = "id", update = { "v" }, batch_size = batch_size }))
      assert.are.equal(want, testenv.psql(dsn, "SELECT * FROM dup_subset ORDER BY id COLLATE \"C\""),
        "batch_size " .. batch_size)
    end
  end)

  it("handles composite keys and reports inserted, updated and unchanged", function()
    testenv.psql(dsn, "CREATE TABLE daily (region text, day date, total numeric(12,2), PRIMARY KEY (region, day))")
    local rows = {
      { region = "EMEA", day = "2026-01-01", total = "1.10" },
      { region = "EMEA", day = "2026-01-02", total = "2.20" },
      { region = "APAC", day = "2026-01-01", total = "3.30" },
    }
    assert.are.same({ inserted = 3, updated = 0, unchanged = 0, batches = 1 },
      assert(conn:upsert("daily", rows, { key = { "region", "day" } })))
    rows[2].total = "9.99"
    rows[4] = { region = "APAC", day = "2026-01-02", total = "4.40" }
    rows[5] = { region = "EMEA", day = "2026-01-01", total = "1.10" }
    -- batch 1: EMEA/01 and APAC/01 unchanged, EMEA/02 updated; batch 2: APAC/02 new, EMEA/01 unchanged
    assert.are.same({ inserted = 1, updated = 1, unchanged = 3, batches = 2 },
      assert(conn:upsert("daily", rows, { key = { "region", "day" }, skip_unchanged = true, batch_size = 3 })))
    assert.are.equal("APAC|2026-01-01|3.30\nAPAC|2026-01-02|4.40\nEMEA|2026-01-01|1.10\nEMEA|2026-01-02|9.99\n",
      testenv.psql(dsn, "SELECT * FROM daily ORDER BY region, day"))
  end)

  it("quotes schema, table and column names with spaces, quotes and upper case", function()
    testenv.psql(dsn, [[CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."Sales ""Q1"""
      ("Sale ID" text PRIMARY KEY, "Amount" numeric, "we""ird" text)]])
    local rows = { { ["Sale ID"] = "a", Amount = "1.5", ['we"ird'] = "x" }, { ["Sale ID"] = "b", Amount = 2 } }
    assert.are.same({ inserted = 2, updated = 0, unchanged = 0, batches = 1 },
      assert(conn:upsert('Odd Schema.Sales "Q1"', rows, { key = "Sale ID" })))
    rows[1].Amount = "7"
    assert(conn:upsert({ "Odd Schema", 'Sales "Q1"' }, rows, { key = { "Sale ID" }, update = { "Amount" } }))
    assert.are.equal("a|7|x\nb|2|\n", testenv.psql(dsn, [[SELECT * FROM "Odd Schema"."Sales ""Q1""" ORDER BY 1]]))
    -- names are literal: no case folding
    local r, err, code = conn:upsert("odd schema.sales", rows, { key = "Sale ID" })
    assert.is_nil(r)
    assert.are.equal("3F000", code)
    assert.matches('schema "odd schema" does not exist', err)
  end)

  it("updates only the chosen columns and applies SQL expressions from the script", function()
    testenv.psql(dsn, [[CREATE TABLE fact_sales (sale_id text PRIMARY KEY, sale_date timestamptz NOT NULL,
      revenue numeric(14,2) NOT NULL, region text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(),
      touched int NOT NULL DEFAULT 0)]])
    local rows = {
      { sale_id = "S1", sale_date = "2026-01-01T00:00:00Z", revenue = "10.00", region = "EMEA" },
      { sale_id = "S2", sale_date = "2026-01-02T00:00:00+02:00", revenue = "20.50", region = "APAC" },
    }
    local opts = { key = { "sale_id" }, update = { "revenue" },
      set = { loaded_at = "now()", touched = "t.touched + 1" } }
    assert(conn:upsert("fact_sales", rows, opts))
    rows[1] = { sale_id = "S1", sale_date = "2030-01-01T00:00:00Z", revenue = "11.00", region = "LATAM" }
    assert.are.same({ inserted = 0, updated = 2, unchanged = 0, batches = 1 },
      assert(conn:upsert("fact_sales", rows, opts)))
    assert.are.equal("S1|1767225600|11.00|EMEA|1\nS2|1767304800|20.50|APAC|1\n", testenv.psql(dsn,
      "SELECT sale_id, extract(epoch FROM sale_date)::bigint, revenue, region, touched FROM fact_sales ORDER BY 1"))
    assert.has_error(function() conn:upsert("fact_sales", rows, { key = "sale_id", update = { "sale_id" } }) end,
      "bad argument #3 to 'upsert' (option 'update': column 'sale_id' is a key column)")
    assert.has_error(function()
      conn:upsert("fact_sales", rows, { key = "sale_id", update = { "revenue" }, set = { revenue = "0" } })
    end, "bad argument #3 to 'upsert' (option 'update': column 'revenue' is also in 'set')")
    assert.has_error(function() conn:upsert("fact_sales", rows, { key = "sale_id", update = { 1 } }) end,
      "bad argument #3 to 'upsert' (option 'update': item 1: string expected, got number)")
    assert.has_error(function() conn:upsert("fact_sales", rows, { key = "sale_id", empty_as = "list" }) end,
      "bad argument #3 to 'upsert' (option 'empty_as': \"object\" or \"array\" expected, got 'list')")
  end)

  it("evaluates a set expression that names no row once per batch, and passes its value", function()
    testenv.psql(dsn, [[CREATE TABLE stamped (id int PRIMARY KEY, v text, stamp timestamptz, n int DEFAULT 0)]])
    local rows = {}
    for i = 1, 600 do rows[i] = { id = i, v = "a" .. i } end
    local opts = { key = "id", update = { "v" }, set = { stamp = "clock_timestamp()", n = "t.n + 1" },
      batch_size = 200 }
    assert(conn:upsert("stamped", rows, opts))
    for i = 1, 600 do rows[i].v = "b" .. i end
    assert.are.same({ inserted = 0, updated = 600, unchanged = 0, batches = 3 },
      assert(conn:upsert("stamped", rows, opts)))
    -- one clock_timestamp() per batch of 200 (per row it would be up to 600 values); t.n + 1 per row
    assert.are.equal("3|600|1\n", testenv.psql(dsn,
      "SELECT count(DISTINCT stamp), count(*), max(n) FROM stamped WHERE n = 1"))
    assert.are.equal("1|1\n1|1\n1|1\n", testenv.psql(dsn,
      "SELECT count(DISTINCT stamp), count(DISTINCT v LIKE 'b%') FROM stamped GROUP BY (id - 1) / 200 ORDER BY 1"))
  end)

  it("skips unchanged rows: no update reported, no row rewritten", function()
    testenv.psql(dsn, [[CREATE TABLE skip (id int PRIMARY KEY, v text, w float8,
      loaded_at timestamptz NOT NULL DEFAULT now())]])
    local rows = {}
    for i = 1, 500 do rows[i] = { id = i, v = "v" .. i, w = i / 3 } end
    rows[501] = { id = 501, v = pg.null }
    local opts = { key = "id", skip_unchanged = true, set = { loaded_at = "now()" }, batch_size = 200 }
    assert.are.same({ inserted = 501, updated = 0, unchanged = 0, batches = 3 },
      assert(conn:upsert("skip", rows, opts)))
    local before = testenv.psql(dsn, "SELECT id, xmin, loaded_at FROM skip ORDER BY id")
    -- the session's own counters, read inside one transaction, before and after
    local counters = "SELECT n_tup_upd, n_tup_ins, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'skip'"
    assert(conn:begin())
    local xact_before = assert(conn:query(counters))
    assert.are.same({ inserted = 0, updated = 0, unchanged = 501, batches = 3 },
      assert(conn:upsert("skip", rows, opts)))
    assert.are.same(xact_before, assert(conn:query(counters)))
    assert(conn:commit())
    assert.are.equal(before, testenv.psql(dsn, "SELECT id, xmin, loaded_at FROM skip ORDER BY id"))

    -- PostgreSQL's own statistics (flushed when a session ends) show no update either
    local function stat()
      return testenv.psql(dsn, "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'skip'")
    end
    assert(conn:query("SELECT pg_stat_force_next_flush()")) -- or this session's inserts show 10 s later
    local fresh = assert(pg.connect(dsn))
    assert(fresh:upsert("skip", rows, opts))
    rows[7].v = "changed"
    assert.are.same({ inserted = 0, updated = 1, unchanged = 500, batches = 3 },
      assert(fresh:upsert("skip", rows, opts)))
    fresh:close()
    local seen
    for _ = 1, 200 do
      seen = stat()
      if seen == "501|1\n" then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal("501|1\n", seen)
    assert.are.equal("changed\n", testenv.psql(dsn, "SELECT v FROM skip WHERE id = 7"))
  end)

  it("stores injection attempts verbatim and never runs them", function()
    testenv.psql(dsn, "CREATE TABLE victim (id text PRIMARY KEY, v text)")
    local evil = {
      "'); DROP TABLE victim; --", '"; DROP TABLE victim; --', "$1", "\\'; DELETE FROM victim; --",
      "E'\\x27'", "$$; DROP TABLE victim; $$",
    }
    local rows = {}
    for i, s in ipairs(evil) do rows[i] = { id = s, v = s } end
    assert(conn:upsert("victim", rows, { key = "id" }))
    for _, s in ipairs(evil) do
      assert.are.equal("1\n", testenv.psql(dsn, "SELECT count(*) FROM victim WHERE id = convert_from(decode('"
        .. hex(s) .. "', 'hex'), 'UTF8') AND v = id"))
    end
    local r, err, code = conn:upsert('victim"; DROP TABLE victim; --', rows, { key = "id" })
    assert.is_nil(r)
    assert.are.equal("42P01", code)
    assert.matches("does not exist", err)
    r, err, code = conn:upsert("victim", rows, { key = "id", columns = { "id", 'v"; DROP TABLE victim; --' } })
    assert.is_nil(r)
    assert.are.equal("42703", code)
    assert.matches("does not exist in the table", err)
    r, err, code = conn:upsert("victim", rows,
      { key = "id", update = {}, set = { ['v" = 1; DROP TABLE victim; --'] = "1" } })
    assert.is_nil(r)
    assert.are.equal("42703", code, err)
    assert.are.equal(tostring(#evil) .. "\n", testenv.psql(dsn, "SELECT count(*) FROM victim"))
  end)

  it("names table, column, row key, PostgreSQL's message and SQLSTATE, and commits nothing", function()
    testenv.psql(dsn, [[CREATE TABLE strict (id text PRIMARY KEY, at timestamptz NOT NULL, amount numeric(6,2),
      qty int CHECK (qty >= 0), label text NOT NULL)]])
    testenv.psql(dsn, "INSERT INTO strict VALUES ('keep', now(), 1, 1, 'kept')")
    local function rows_with(i, field, value)
      local rows = {}
      for k = 1, 50 do
        rows[k] = { id = "r" .. k, at = "2026-01-01T00:00:00Z", amount = "1.00", qty = k, label = "L" }
      end
      rows[i][field] = value
      return rows
    end
    local cases = {
      { 37, "at", "2026-13-45", "22008", "row 37 %(id=r37%), column at: date/time field value out of range" },
      { 12, "amount", "99999.99", "22003", "row 12 %(id=r12%), column amount: numeric field overflow" },
      { 44, "qty", "many", "22P02", 'row 44 %(id=r44%), column qty: invalid input syntax for type integer: "many"' },
      { 23, "label", pg.null, "23502", 'row 23 %(id=r23%), column label: null value in column "label"' },
      { 31, "qty", -1, "23514", 'violates check constraint "strict_qty_check"' },
      { 18, "label", "bad\0byte", "INVALID", "row 18 %(id=r18%), column label contains a NUL byte" },
      { 29, "amount", { 1 }, "INVALID", "row 29 %(id=r29%), column amount is a table" },
      { 41, "at", print, "INVALID", "row 41 %(id=r41%), column at is a function, userdata or thread" },
    }
    local holey = rows_with(1, "label", "L")
    holey[9] = "not a row"
    local res, msg, state = conn:upsert("strict", holey, { key = "id" })
    assert.is_nil(res)
    assert.are.equal("INVALID", state)
    assert.are.equal("upsert into strict: row 9 is not a table", msg)
    for _, case in ipairs(cases) do
      local rows = rows_with(case[1], case[2], case[3])
      local r, err, code = conn:upsert("strict", rows, { key = "id", batch_size = 10 })
      assert.is_nil(r)
      assert.are.equal(case[4], code, err)
      assert.matches("^upsert into strict", err)
      assert.matches(case[5], err)
      assert.are.equal("keep\n", testenv.psql(dsn, "SELECT string_agg(id, ',') FROM strict"), err)
      -- inside the caller's transaction: the same error, and the transaction is rolled back by the caller
      local ok, terr, tcode = conn:transaction(function(c)
        assert(c:exec("INSERT INTO strict VALUES ('tx', now(), 1, 1, 'x')"))
        return c:upsert("strict", rows, { key = "id", batch_size = 10 })
      end)
      assert.is_nil(ok)
      assert.are.equal(case[4], tcode)
      assert.matches(case[5], terr)
      assert.are.equal("keep\n", testenv.psql(dsn, "SELECT string_agg(id, ',') FROM strict"))
    end
  end)

  it("commits every N batches when asked, so a reader sees the finished part", function()
    testenv.psql(dsn, "CREATE TABLE chunks (id int PRIMARY KEY, v int NOT NULL)")
    local rows = {}
    for i = 1, 100 do rows[i] = { id = i, v = i } end
    rows[75].v = pg.null
    local r, err, code = conn:upsert("chunks", rows, { key = "id", batch_size = 10, commit_every = 2 })
    assert.is_nil(r)
    assert.are.equal("23502", code)
    assert.matches("row 75 %(id=75%)", err)
    -- batches 1-6 (rows 1-60) were committed in three transactions; 61-80 failed and rolled back
    assert.are.equal("60|60\n", testenv.psql(dsn, "SELECT count(*), max(id) FROM chunks"))
    rows[75].v = 75
    assert.are.same({ inserted = 40, updated = 0, unchanged = 60, batches = 10 },
      assert(conn:upsert("chunks", rows, { key = "id", batch_size = 10, commit_every = 2, skip_unchanged = true })))
    assert.are.equal("100|5050\n", testenv.psql(dsn, "SELECT count(*), sum(v) FROM chunks"))
    assert(conn:begin())
    assert.has_error(function() conn:upsert("chunks", rows, { key = "id", commit_every = 1 }) end,
      "bad argument #3 to 'upsert' (option 'commit_every': cannot be used inside a transaction)")
    assert(conn:rollback())
  end)
end)
