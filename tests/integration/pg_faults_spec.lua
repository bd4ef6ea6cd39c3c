-- conn:upsert when the connection goes away mid-load: the batches since the
-- last commit are redone on a new session (never duplicated, never half
-- applied); inside the caller's transaction it fails clearly instead and a
-- re-run completes. The loss is triggered deterministically from inside the
-- server: a statement trigger fires once per batch and acts on its Nth call.
local testenv = dofile("tests/lib/testenv.lua")
local pg = require "salesengine.pg"

local N_ROWS, BATCH = 1000, 100

local function make_rows(tag)
  local rows = {}
  for i = 1, N_ROWS do rows[i] = { id = i, v = tag .. i } end
  return rows
end

--- SQL for table `loadt` whose 3rd INSERT statement runs `action`.
local function table_with_trap(action)
  return [[DROP TABLE IF EXISTS loadt; DROP SEQUENCE IF EXISTS trap_calls;
    CREATE SEQUENCE trap_calls;
    CREATE TABLE loadt (id int PRIMARY KEY, v text NOT NULL);
    CREATE OR REPLACE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      IF nextval('trap_calls') = 3 THEN ]] .. action .. [[ END IF;
      RETURN NULL;
    END $f$;
    CREATE TRIGGER trap AFTER INSERT ON loadt FOR EACH STATEMENT EXECUTE FUNCTION trap();]]
end

local KILL_SELF = "PERFORM pg_terminate_backend(pg_backend_pid());"

local function expect_loaded(dsn, tag)
  assert.are.equal(string.format("%d|%d|%d\n", N_ROWS, N_ROWS, N_ROWS * (N_ROWS + 1) // 2),
    testenv.psql(dsn, "SELECT count(*), count(DISTINCT id), sum(id) FROM loadt"))
  assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM loadt WHERE v <> '" .. tag .. "' || id"))
end

describe("upsert and a lost connection", function()
  local dsn, dir

  setup(function()
    dsn = testenv.fresh_db("pg_faults")
    dir = testenv.tmpdir()
  end)

  teardown(function()
    testenv.rm_rf(dir)
  end)

  it("redoes the rolled-back batches on a new session and completes on its own", function()
    testenv.psql(dsn, table_with_trap(KILL_SELF))
    local script = dir .. "/load.lua"
    testenv.write_file(script, [[
      local pg = require "salesengine.pg"
      local conn = assert(pg.connect(os.getenv("DSN"), { reconnect_delay = 0.05 }))
      local rows = {}
      for i = 1, ]] .. N_ROWS .. [[ do rows[i] = { id = i, v = "a" .. i } end
      local st, err, code = conn:upsert("loadt", rows, { key = "id", batch_size = ]] .. BATCH .. [[ })
      if not st then io.write("FAILED ", err, " ", code) os.exit(1) end
      io.write(st.inserted, " ", st.updated, " ", st.unchanged, " ", st.batches)
    ]])
    local r = testenv.salesengine({ script }, { env = { DSN = dsn } })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    -- the first two batches were rolled back with the lost session and loaded again
    assert.are.equal("1000 0 0 10", r.stdout)
    assert.matches("level=warn msg=\"postgres: connection lost during upsert, retrying\" table=loadt from_row=1 ",
      r.stderr)
    assert.matches("terminating connection due to administrator command", r.stderr)
    assert.matches("msg=\"postgres: reconnected after 1 attempt\"", r.stderr)
    expect_loaded(dsn, "a")
    assert.are.equal("13\n", testenv.psql(dsn, "SELECT last_value FROM trap_calls")) -- 2 + 1 lost + 10
  end)

  it("with commit_every, keeps the committed batches and redoes only the lost ones", function()
    testenv.psql(dsn, table_with_trap(KILL_SELF))
    local conn = assert(pg.connect(dsn, { reconnect_delay = 0.05 }))
    local st = assert(conn:upsert("loadt", make_rows("b"), { key = "id", batch_size = BATCH, commit_every = 2 }))
    assert.are.same({ inserted = N_ROWS, updated = 0, unchanged = 0, batches = 10 }, st)
    conn:close()
    expect_loaded(dsn, "b")
    -- batches 1-2 committed; batch 3 lost; batches 3-10 after the reconnect
    assert.are.equal("11\n", testenv.psql(dsn, "SELECT last_value FROM trap_calls"))
  end)

  it("inside the caller's transaction fails clearly, and a re-run completes", function()
    testenv.psql(dsn, table_with_trap(KILL_SELF))
    local conn = assert(pg.connect(dsn, { reconnect_delay = 0.05 }))
    local ok, err, code = conn:transaction(function(c)
      assert(c:exec("INSERT INTO loadt VALUES (0, 'caller')"))
      return c:upsert("loadt", make_rows("c"), { key = "id", batch_size = BATCH })
    end)
    assert.is_nil(ok)
    assert.are.equal("08006", code) -- libpq reports the lost session without the server's SQLSTATE
    -- the caller's INSERT was the trigger's first call, so the 2nd batch (rows 101-200) met the loss
    assert.matches("^upsert into loadt %(rows 101 to 200%): FATAL:  terminating connection due to administrator "
      .. "command .* server closed the connection unexpectedly", err)
    assert.matches("the connection was lost inside the caller's transaction, which the server rolled back", err)
    assert.are.equal("0\n", testenv.psql(dsn, "SELECT count(*) FROM loadt"))
    -- the same connection object comes back on a new session
    ok, err = conn:transaction(function(c)
      return c:upsert("loadt", make_rows("c"), { key = "id", batch_size = BATCH })
    end)
    assert.is_truthy(ok, err)
    conn:close()
    expect_loaded(dsn, "c")
  end)

  it("refuses statements after a lost transaction until it is rolled back", function()
    testenv.psql(dsn, "DROP TABLE IF EXISTS loadt; CREATE TABLE loadt (id int PRIMARY KEY, v text NOT NULL)")
    local conn = assert(pg.connect(dsn .. " application_name=se_lost", { reconnect_delay = 0.05 }))
    assert(conn:begin())
    assert(conn:exec("INSERT INTO loadt VALUES (1, 'x')"))
    testenv.psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'se_lost'")
    local r, _, code = conn:exec("INSERT INTO loadt VALUES (2, 'y')")
    assert.is_nil(r)
    assert.are.equal("08006", code)
    local err
    r, err, code = conn:exec("INSERT INTO loadt VALUES (3, 'z')")
    assert.is_nil(r)
    assert.are.equal("08003", code)
    assert.matches("call rollback%(%) before using the connection again", err)
    assert(conn:rollback())
    assert(conn:exec("INSERT INTO loadt VALUES (4, 'w')")) -- a new session, outside any transaction
    conn:close()
    assert.are.equal("4\n", testenv.psql(dsn, "SELECT string_agg(id::text, ',') FROM loadt"))
  end)
end)

describe("upsert while the server restarts", function()
  local cluster, marker_dir

  setup(function()
    cluster = testenv.cluster()
    marker_dir = testenv.tmpdir()
    os.execute("chmod 777 " .. testenv.shquote(marker_dir))
  end)

  teardown(function()
    cluster:stop()
    testenv.rm_rf(marker_dir)
  end)

  --- Makes the 3rd batch write a marker file and wait; a background shell
  -- restarts the server as soon as the marker appears (mid-batch, always).
  local function arm_restart(name)
    local marker = marker_dir .. "/" .. name
    testenv.psql(cluster.dsn, table_with_trap("COPY (SELECT 1) TO '" .. marker .. "'; PERFORM pg_sleep(60);"))
    os.execute("(while [ ! -f " .. testenv.shquote(marker) .. " ]; do sleep 0.05; done; "
      .. testenv.shquote(testenv.cluster_script) .. " restart " .. testenv.shquote(cluster.dir)
      .. ") >/dev/null 2>&1 &")
    return marker
  end

  it("connects once a server that is down comes back, within the retry budget", function()
    cluster:kill()
    os.execute("(sleep 1; " .. testenv.shquote(testenv.cluster_script) .. " up " .. testenv.shquote(cluster.dir)
      .. ") >/dev/null 2>&1 &")
    local conn, err = pg.connect(cluster.dsn, { reconnect_attempts = 30, reconnect_delay = 0.2,
      reconnect_max_delay = 0.2 })
    assert.is_truthy(conn, err)
    assert.are.same({ { one = 1 } }, assert(conn:query("SELECT 1 AS one")))
    conn:close()
  end)

  it("completes the load on its own, exactly once", function()
    local marker = arm_restart("own")
    local conn = assert(pg.connect(cluster.dsn, { reconnect_attempts = 12, reconnect_delay = 0.25 }))
    local st, err = conn:upsert("loadt", make_rows("r"), { key = "id", batch_size = BATCH })
    assert.is_truthy(st, err)
    assert.are.same({ inserted = N_ROWS, updated = 0, unchanged = 0, batches = 10 }, st)
    assert.truthy(io.open(marker), "the restart happened during the load")
    conn:close()
    expect_loaded(cluster.dsn, "r")
  end)

  it("in the caller's transaction fails with a clear error, and a re-run completes it", function()
    arm_restart("caller")
    local conn = assert(pg.connect(cluster.dsn, { reconnect_attempts = 12, reconnect_delay = 0.25 }))
    local ok, err, code = conn:transaction(function(c)
      return c:upsert("loadt", make_rows("s"), { key = "id", batch_size = BATCH })
    end)
    assert.is_nil(ok)
    assert.are.equal("08006", code)
    assert.matches("^upsert into loadt", err)
    assert.matches("the connection was lost inside the caller's transaction", err)
    ok, err = conn:transaction(function(c)
      return c:upsert("loadt", make_rows("s"), { key = "id", batch_size = BATCH })
    end)
    assert.is_truthy(ok, err)
    conn:close()
    expect_loaded(cluster.dsn, "s")
  end)
end)
