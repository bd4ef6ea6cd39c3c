-- salesengine.pg: connections, plain SQL with parameters, type mapping and
-- transactions, checked against the shared test cluster (and with psql).
local testenv = dofile("tests/lib/testenv.lua")
local pg = require "salesengine.pg"
local cjson = require "cjson"

--- Runs Lua code in a fresh salesengine process with extra environment variables.
local function run_lua(code, env)
  return testenv.salesengine({ "-e", code }, { env = env })
end

--- Polls psql until fn(output) is true (the server ends a backend a moment
-- after its client leaves); returns the last output.
local function eventually(dsn, sql, fn)
  local out
  for _ = 1, 200 do
    out = testenv.psql(dsn, sql)
    if fn(out) then return out end
    os.execute("sleep 0.05")
  end
  return out
end

describe("salesengine.pg connections", function()
  local dsn, password_dsn, password

  setup(function()
    dsn, password_dsn, password = testenv.fresh_db("pg_conn")
  end)

  it("connects with a key=value DSN and with a URI carrying a password", function()
    local conn = assert(pg.connect(dsn))
    assert.are.equal("t_pg_conn", conn:query("SELECT current_database() AS db")[1].db)
    conn:close()
    local conn2, err = pg.connect(password_dsn)
    assert.is_nil(err)
    assert.are.equal("se_secret", conn2:query("SELECT current_user AS u")[1].u)
    conn2:close()
  end)

  it("uses what libpq honours: PG* variables, a password file and a service file", function()
    local env = testenv.pg_env()
    local code = [[local c, e = require("salesengine.pg").connect(...)
      if not c then io.write("FAIL ", e) os.exit(1) end
      io.write(c:query("SELECT current_user AS u, current_database() AS d")[1].u, " ",
        c:query("SELECT current_database() AS d")[1].d)]]
    local r = run_lua("assert(load(" .. string.format("%q", code) .. "))('')",
      { PGHOST = env.PGHOST, PGPORT = env.PGPORT, PGUSER = "postgres", PGDATABASE = "t_pg_conn" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("postgres t_pg_conn", r.stdout)

    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/pgpass", string.format("127.0.0.1:%s:*:se_secret:%s\n", env.PGPORT, password))
    os.execute("chmod 600 " .. dir .. "/pgpass")
    testenv.write_file(dir .. "/services", string.format(
      "[warehouse]\nhost=127.0.0.1\nport=%s\nuser=se_secret\ndbname=t_pg_conn\nsslmode=disable\n", env.PGPORT))
    r = run_lua("assert(load(" .. string.format("%q", code) .. "))('service=warehouse')",
      { PGPASSFILE = dir .. "/pgpass", PGSERVICEFILE = dir .. "/services", PGHOST = false, PGPORT = false })
    testenv.rm_rf(dir)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("se_secret t_pg_conn", r.stdout)
  end)

  it("reports an unreachable server or a wrong password without the password", function()
    local closed = password_dsn:gsub(":(%d+)/", ":" .. testenv.free_port() .. "/")
    local fast = { reconnect_attempts = 3, reconnect_delay = 0.01 }
    local conn, err, code = pg.connect(closed, fast)
    assert.is_nil(conn)
    assert.are.equal("08001", code)
    assert.matches("could not connect to PostgreSQL %(attempt 3/3%)", err) -- unreachable: retried
    assert.falsy(err:find(password, 1, true), err)
    conn, err, code = pg.connect((password_dsn:gsub(password:gsub("%p", "%%%0"), password .. "x")), fast)
    assert.is_nil(conn)
    assert.are.equal("08001", code)
    assert.matches("%(attempt 1/3%)", err) -- refused by the server: not retried
    assert.matches("password authentication failed", err)
    assert.falsy(err:find(password, 1, true), err)
    -- a key=value DSN whose password libpq may echo in a syntax complaint
    conn, err = pg.connect("host=127.0.0.1 port=1 password=" .. password .. " sslmode=nonsense")
    assert.is_nil(conn)
    assert.falsy(err:find(password, 1, true), err)
  end)

  it("closes by close(), by garbage collection and by a to-be-closed variable", function()
    local function backends(name)
      return testenv.psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" .. name .. "'")
    end
    local conn = assert(pg.connect(dsn .. " application_name=se_close"))
    assert.are.equal("1\n", backends("se_close"))
    conn:close()
    conn:close() -- a second close does nothing
    assert.are.equal("0\n", eventually(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
      .. "'se_close'", function(out) return out == "0\n" end))
    assert.has_error(function() conn:exec("SELECT 1") end, "attempt to use a closed connection")
    assert.has_error(function() conn:query("SELECT 1") end, "attempt to use a closed connection")
    assert.has_error(function() conn:upsert("t", {}, { key = "id" }) end, "attempt to use a closed connection")
    assert.has_error(function() conn:transaction(function() return true end) end,
      "attempt to use a closed connection")

    do
      local scoped <close> = assert(pg.connect(dsn .. " application_name=se_tbc"))
      assert.are.equal("1\n", backends("se_tbc"))
      assert.truthy(scoped)
    end
    assert.are.equal("0\n", eventually(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
      .. "'se_tbc'", function(out) return out == "0\n" end))

    pg.connect(dsn .. " application_name=se_gc") -- dropped at once
    assert.are.equal("1\n", backends("se_gc"))
    collectgarbage()
    collectgarbage()
    assert.are.equal("0\n", eventually(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
      .. "'se_gc'", function(out) return out == "0\n" end))
  end)

  it("raises on programmer mistakes", function()
    assert.has_error(function() pg.connect(dsn, { retries = 3 }) end,
      "bad argument #2 to 'connect' (unknown option 'retries')")
    assert.has_error(function() pg.connect(dsn, { reconnect_delay = "1s" }) end,
      "bad argument #2 to 'connect' (option 'reconnect_delay': number expected, got string)")
    local conn = assert(pg.connect(dsn))
    assert.has_error(function() conn:exec({}) end)
    assert.has_error(function() conn:upsert("t", {}, { key = "id", batchsize = 5 }) end,
      "bad argument #3 to 'upsert' (unknown option 'batchsize'); did you mean 'batch_size'?")
    assert.has_error(function() conn:upsert("t", {}, { key = "id", batch_size = "5" }) end,
      "bad argument #3 to 'upsert' (option 'batch_size': number expected, got string)")
    assert.has_error(function() conn:upsert_writer("t", { key = "id", on_refuse = print }) end,
      "bad argument #2 to 'upsert_writer' (unknown option 'on_refuse'); did you mean 'on_refused'?")
    assert.has_error(function() conn:upsert("a.b.c", {}, { key = "id" }) end)
    assert.has_error(function() conn:transaction("not a function") end)
    conn:close()
  end)
end)

describe("salesengine.pg exec and query", function()
  local dsn, conn

  setup(function()
    dsn = testenv.fresh_db("pg_sql")
    conn = assert(pg.connect(dsn))
  end)

  teardown(function()
    conn:close()
  end)

  it("exec reports the command tag and the rows affected", function()
    local r = assert(conn:exec("CREATE TABLE notes (id int PRIMARY KEY, body text)"))
    assert.are.same({ rows_affected = 0, command = "CREATE TABLE" }, r)
    r = assert(conn:exec("INSERT INTO notes VALUES ($1, $2), ($3, $4)", 1, "a", 2, "b"))
    assert.are.same({ rows_affected = 2, command = "INSERT 0 2" }, r)
    r = assert(conn:exec("UPDATE notes SET body = $1 WHERE id > $2", "z", 0))
    assert.are.same({ rows_affected = 2, command = "UPDATE 2" }, r)
    assert.are.equal("1|z\n2|z\n", testenv.psql(dsn, "SELECT * FROM notes ORDER BY id"))
    -- several statements without parameters, as a schema file has them
    assert(conn:exec("CREATE TABLE a (x int); CREATE TABLE b (y int); DROP TABLE a"))
    assert.are.equal("b\n", testenv.psql(dsn,
      "SELECT string_agg(relname, ',') FROM pg_class WHERE relname IN ('a', 'b')"))
  end)

  it("returns nil, message and SQLSTATE for database errors", function()
    local r, err, code = conn:exec("INSERT INTO notes VALUES ($1, $2)", 1, "dup")
    assert.is_nil(r)
    assert.are.equal("23505", code)
    assert.matches("duplicate key value violates unique constraint", err)
    assert.matches("Key %(id%)=%(1%) already exists", err)
    r, err, code = conn:query("SELECT * FROM missing_table")
    assert.is_nil(r)
    assert.are.equal("42P01", code)
    assert.matches("missing_table", err)
    r, err, code = conn:exec("SELECT $1::int", "a\0b")
    assert.is_nil(r)
    assert.are.equal("INVALID", code)
    assert.matches("parameter %$1 contains a NUL byte", err)
  end)

  it("maps PostgreSQL types to Lua values", function()
    local rows = assert(conn:query([[SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8,
      0.5::float4 AS f4, (0.1::float8 + 0.2::float8) AS f8, 1e300::float8 AS big, 'Infinity'::float8 AS inf,
      '-Infinity'::float8 AS ninf, 'NaN'::float8 AS nan, true AS yes, false AS no,
      12345678901234567890.123456789::numeric AS num, '{"a": [1, {}], "b": null}'::jsonb AS jb,
      '[1, 2]'::json AS js, NULL::text AS nothing, 'tab	x'::text AS txt, '2026-03-01 10:00:00+05:30'::timestamptz AS ts,
      '\x00ff'::bytea AS raw]]))
    assert.are.equal(1, #rows)
    local r = rows[1]
    assert.are.equal(math.type(r.i2), "integer")
    assert.are.equal(1, r.i2)
    assert.are.equal(2, r.i4)
    assert.are.equal(9007199254740993, r.i8)
    assert.are.equal(math.type(r.i8), "integer")
    assert.are.equal(0.5, r.f4)
    assert.are.equal(0.1 + 0.2, r.f8)
    assert.are.equal(1e300, r.big)
    assert.are.equal(math.huge, r.inf)
    assert.are.equal(-math.huge, r.ninf)
    assert.is_true(r.nan ~= r.nan)
    assert.is_true(r.yes)
    assert.is_false(r.no)
    assert.are.equal("12345678901234567890.123456789", r.num)
    assert.are.equal('{"a": [1, {}], "b": null}', r.jb)
    assert.are.same({ a = { 1, {} }, b = cjson.null }, cjson.decode(r.jb))
    assert.are.equal("[1, 2]", r.js)
    assert.are.equal(pg.null, r.nothing)
    assert.are.equal(cjson.null, r.nothing)
    assert.are.equal("tab\tx", r.txt)
    assert.are.equal("2026-03-01 04:30:00+00", r.ts)
    assert.are.equal("\\x00ff", r.raw)
  end)

  it("sends parameters as values, never as SQL", function()
    local nasty = "x'); DROP TABLE notes; --"
    local rows = assert(conn:query([[SELECT $1::text AS s, $2::int8 AS i, $3::float8 AS f, $4::bool AS b,
      $5::text AS n, $6::jsonb AS j, $7::numeric AS num]], nasty, 9007199254740993, 0.1 + 0.2, true, nil,
      { k = { 1, 2 } }, "0.10"))
    local r = rows[1]
    assert.are.equal(nasty, r.s)
    assert.are.equal(9007199254740993, r.i)
    assert.are.equal(0.1 + 0.2, r.f)
    assert.is_true(r.b)
    assert.are.equal(pg.null, r.n)
    assert.are.equal('{"k": [1, 2]}', r.j)
    assert.are.equal("0.10", r.num)
    assert.are.equal("2\n", testenv.psql(dsn, "SELECT count(*) FROM notes"))
    assert.are.same({}, assert(conn:query("SELECT * FROM notes WHERE body = $1", nasty)))
  end)
end)

describe("salesengine.pg transactions", function()
  local dsn, conn

  setup(function()
    dsn = testenv.fresh_db("pg_tx")
    conn = assert(pg.connect(dsn))
    assert(conn:exec("CREATE TABLE t (id int PRIMARY KEY)"))
  end)

  teardown(function()
    conn:close()
  end)

  before_each(function()
    testenv.psql(dsn, "TRUNCATE t")
  end)

  it("commits when the function succeeds and returns its results", function()
    local a, b = conn:transaction(function(c, x)
      assert(c:exec("INSERT INTO t VALUES ($1)", x))
      assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t")) -- not visible yet
      return "done", 7
    end, 1)
    assert.are.equal("done", a)
    assert.are.equal(7, b)
    assert.are.equal("1\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
    assert.is_true(conn:transaction(function(c) return c:exec("INSERT INTO t VALUES (2)") ~= nil end))
    assert.are.equal("2\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
    -- a function that forgets to return never commits
    assert.has_error(function()
      conn:transaction(function(c) assert(c:exec("INSERT INTO t VALUES (3)")) end)
    end, "the function given to transaction() returned nothing (rolled back): return true to commit, "
      .. "or nil, message to roll back")
    assert.are.equal("2\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
  end)

  it("rolls back and re-raises when the function raises", function()
    assert.has_error(function()
      conn:transaction(function(c)
        assert(c:exec("INSERT INTO t VALUES (1)"))
        error("boom")
      end)
    end)
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
    local ok, err = pcall(conn.transaction, conn, function() error({ code = 42 }) end)
    assert.is_false(ok)
    assert.are.same({ code = 42 }, err)
    assert.are.same({}, conn:query("SELECT * FROM t")) -- the connection is usable and idle
  end)

  it("rolls back when the function returns nil or false, passing its values on", function()
    local r, err, code = conn:transaction(function(c)
      assert(c:exec("INSERT INTO t VALUES (1)"))
      return c:exec("INSERT INTO t VALUES (1)")
    end)
    assert.is_nil(r)
    assert.are.equal("23505", code)
    assert.matches("duplicate key", err)
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
    assert.is_false((conn:transaction(function(c)
      assert(c:exec("INSERT INTO t VALUES (3)"))
      return false
    end)))
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
  end)

  it("reports a failed statement whose error the function ignored instead of committing", function()
    local r, err, code = conn:transaction(function(c)
      assert(c:exec("INSERT INTO t VALUES (1)"))
      c:exec("INSERT INTO t VALUES (1)") -- fails; the transaction is aborted
      return true
    end)
    assert.is_nil(r)
    assert.are.equal("25P02", code)
    assert.matches("rolled back", err)
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
  end)

  it("raises when nested, and offers begin/commit/rollback", function()
    assert(conn:begin())
    assert.has_error(function() conn:transaction(function() return true end) end,
      "transaction() called while a transaction is already open")
    assert(conn:exec("INSERT INTO t VALUES (5)"))
    assert(conn:rollback())
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM t"))
    assert(conn:begin())
    assert(conn:exec("INSERT INTO t VALUES (6)"))
    assert(conn:commit())
    assert.are.equal("6\n", testenv.psql(dsn, "SELECT id FROM t"))
  end)
end)
