-- Offline parts of incremental loads: cursor arithmetic (salesengine.incremental),
-- the lock key (salesengine.state), the window a run asks for and the cursor it
-- saves (with a scripted stand-in for the few state statements), and the
-- `salesengine state` command line parsing.
local incremental = require "salesengine.incremental"
local state = require "salesengine.state"
local state_cli = require "salesengine.state_cli"
local cjson = require "cjson"

describe("incremental timestamps", function()
  it("parse ISO-8601 to exact UTC microseconds, offsets applied", function()
    assert.are.equal(0, incremental.parse_time("1970-01-01T00:00:00Z"))
    assert.are.equal(86400 * 1000000, incremental.parse_time("1970-01-02"))
    assert.are.equal(incremental.parse_time("2026-03-01T08:00:00Z"),
      incremental.parse_time("2026-03-01T10:00:00+02:00"))
    assert.are.equal(incremental.parse_time("2026-03-01T00:00:00Z"),
      incremental.parse_time("2026-02-28T19:00:00-05:00"))
    assert.are.equal(incremental.parse_time("2026-03-01 10:00:00"), incremental.parse_time("2026-03-01T10:00:00Z"))
    assert.are.equal(1, incremental.parse_time("1970-01-01T00:00:00.000001Z"))
    -- 2024-02-29 12:00 UTC, computed by hand: 19782 days since the epoch
    assert.are.equal((19782 * 86400 + 12 * 3600) * 1000000, incremental.parse_time("2024-02-29T12:00:00Z"))
  end)

  it("compare as instants, not as text", function()
    -- as text "10:00:00.5Z" sorts before "10:00:00Z"; as instants it is later
    assert.is_true(incremental.parse_time("2026-03-01T10:00:00.5Z") > incremental.parse_time("2026-03-01T10:00:00Z"))
    assert.is_true(incremental.parse_time("2026-03-01T11:00:00+02:00") < incremental.parse_time("2026-03-01T10:00:00Z"))
  end)

  it("refuse what is not a date-time", function()
    local v, why = incremental.parse_time("2026-13-01T00:00:00Z")
    assert.is_nil(v)
    assert.matches("month 13", why)
    assert.is_nil((incremental.parse_time("yesterday")))
    assert.is_nil((incremental.parse_time(42)))
  end)

  it("format back to UTC text that parses to the same instant", function()
    assert.are.equal("2026-03-01T08:00:00Z", incremental.format_time(incremental.parse_time("2026-03-01T10:00+02")))
    assert.are.equal("1969-12-31T23:59:59.500000Z", incremental.format_time(-500000))
    for _, text in ipairs({ "2000-02-29T23:59:59.999999Z", "1900-03-01T00:00:00Z", "2100-12-31T12:34:56Z",
      "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z" }) do
      assert.are.equal(text, incremental.format_time(incremental.parse_time(text)))
    end
  end)
end)

describe("incremental lag", function()
  it("reads seconds and durations", function()
    assert.are.equal(0, incremental.parse_lag(nil))
    assert.are.equal(3600, incremental.parse_lag(3600))
    assert.are.equal(90, incremental.parse_lag("90"))
    assert.are.equal(3600, incremental.parse_lag("1 hour"))
    assert.are.equal(1800, incremental.parse_lag("30 minutes"))
    assert.are.equal(5400, incremental.parse_lag("1h30m"))
    assert.are.equal(2 * 86400 + 3600, incremental.parse_lag("2 days, 1 hour"))
    assert.are.equal(604800, incremental.parse_lag("1 week"))
  end)

  it("raises on what it cannot read", function()
    assert.has_error(function() incremental.parse_lag("an hour") end)
    assert.has_error(function() incremental.parse_lag("3 fortnights") end)
    assert.has_error(function() incremental.parse_lag(-1) end)
    assert.has_error(function() incremental.parse_lag({}) end)
  end)
end)

describe("incremental config", function()
  it("normalises a timestamp cursor", function()
    local cfg = incremental.config({ field = "date", initial = "2026-01-01", lag = "1 hour" })
    assert.are.equal("timestamp", cfg.kind_name)
    assert.are.equal(incremental.parse_time("2026-01-01T00:00:00Z"), cfg.initial)
    assert.are.equal(3600 * 1000000, cfg.lag)
    assert.are.equal("2026-01-02", cfg.get({ date = "2026-01-02" }))
    assert.is_false(cfg.wait)
  end)

  it("follows dotted paths and numeric cursors", function()
    local cfg = incremental.config({ field = "meta.seq", initial = 0, lag = 10 })
    assert.are.equal("number", cfg.kind_name)
    assert.are.equal(7, cfg.get({ meta = { seq = 7 } }))
    assert.is_nil(cfg.get({ meta = "x" }))
  end)

  it("raises on mistakes, naming the option", function()
    local cases = {
      { { initial = "2026-01-01" }, "incremental.field" },
      { { field = "date" }, "incremental.initial" },
      { { field = "date", initial = "not a date" }, "incremental.initial" },
      { { field = "date", initial = 0, lag = "1 hour" }, "must be a number for a numeric cursor" },
      { { field = "date", initial = "2026-01-01", resume = "yes" }, "incremental.resume" },
      { { field = "date", initial = "2026-01-01", wait = "yes" }, "incremental.wait" },
      { { field = "date", initial = "2026-01-01", lagg = 3 }, "unknown option 'lagg'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(incremental.config, c[1])
      assert.is_false(ok)
      assert.matches(c[2], tostring(err), 1, true)
    end
  end)
end)

describe("state lock key", function()
  it("is FNV-1a 64 (published test vectors)", function()
    assert.are.equal(0xcbf29ce484222325, state.fnv1a64(""))
    assert.are.equal(0xaf63dc4c8601ec8c, state.fnv1a64("a"))
    assert.are.equal(0x85944171f73967e8, state.fnv1a64("foobar"))
  end)

  it("is the hash of the prefixed name, different per pipeline", function()
    assert.are.equal(state.fnv1a64("salesengine.etl_state:sales"), state.lock_key("sales"))
    assert.are_not.equal(state.lock_key("sales"), state.lock_key("sales2"))
  end)
end)

-- A stand-in connection answering the statements salesengine.state sends,
-- over one in-memory row (nil: none). saved: the payloads of UPDATEs.
local function state_conn(row)
  local conn = { row = row, saved = {}, closed = false, unlocked = 0 }
  function conn:query(sql)
    if sql:find("pg_try_advisory_lock", 1, true) then
      return { { locked = true } }
    elseif sql:find("pg_advisory_unlock", 1, true) then
      self.unlocked = self.unlocked + 1
      return { { unlocked = true } }
    elseif sql:find("FROM etl_state WHERE pipeline", 1, true) then
      local r = self.row
      return { {
        pipeline = "p", version = r.version, updated_at = "2026-01-01T00:00:00Z",
        cursor_value = r.cursor ~= nil and cjson.encode(r.cursor) or cjson.null,
        resume = r.resume and cjson.encode(r.resume) or cjson.null,
        cursor_field = cjson.null, last_since = cjson.null, last_run_id = cjson.null,
      } }
    end
    error("unexpected query: " .. sql)
  end
  function conn:exec(sql, _, version, payload)
    if sql:find("^%s*UPDATE etl_state") then
      if version ~= self.row.version then
        return { rows_affected = 0 }
      end
      self.row.version = self.row.version + 1
      self.saved[#self.saved + 1] = { sql = sql, payload = payload ~= cjson.null and cjson.decode(payload) or nil }
      return { rows_affected = 1 }
    elseif sql:find("INSERT INTO etl_state", 1, true) then
      self.row = self.row or { version = 0 }
    end
    return { rows_affected = 0 }
  end
  function conn:transaction(fn)
    return fn(self)
  end
  function conn:close()
    self.closed = true
  end
  return conn
end

local function tracker(conn, spec, opts)
  opts = opts or {}
  local cfg = incremental.config(spec or { field = "date", initial = "2026-01-01T00:00:00Z", lag = "1 day" })
  return incremental.new(cfg, { name = "p", run_id = "p-1", full_refresh = opts.full_refresh,
    dry_run = opts.dry_run, connect = function() return conn end })
end

describe("an incremental run's window", function()
  it("starts at the initial value when there is no state", function()
    local conn = state_conn(nil)
    local w = assert(tracker(conn):start())
    assert.are.equal("2026-01-01T00:00:00Z", w.since)
    assert.are.equal(1, w.page)
    assert.is_false(w.resumed)
  end)

  it("starts at the cursor minus the lag, never before the initial value", function()
    local w = assert(tracker(state_conn({ version = 3, cursor = "2026-02-10T06:00:00Z" })):start())
    assert.are.equal("2026-02-09T06:00:00Z", w.since)
    assert.are.equal("2026-02-10T06:00:00Z", w.cursor)
    w = assert(tracker(state_conn({ version = 3, cursor = "2026-01-01T12:00:00Z" })):start())
    assert.are.equal("2026-01-01T00:00:00Z", w.since)
  end)

  it("ignores the state with full_refresh", function()
    local w = assert(tracker(state_conn({ version = 1, cursor = "2026-02-10T06:00:00Z",
      resume = { since = "2026-02-01T00:00:00Z", page = 4 } }), nil, { full_refresh = true }):start())
    assert.are.equal("2026-01-01T00:00:00Z", w.since)
    assert.are.equal(1, w.page)
    assert.is_nil(w.cursor)
    assert.is_true(w.full_refresh)
  end)

  it("resumes an interrupted window by page, by cursor, or re-runs it", function()
    local row = function()
      return { version = 5, cursor = "2026-02-01T00:00:00Z",
        resume = { since = "2026-01-31T00:00:00Z", page = 3, cursor = "2026-02-05T00:00:00Z" } }
    end
    local by_page = assert(tracker(state_conn(row()), { field = "date", initial = "2026-01-01", lag = "1 day",
      resume = "page" }):start())
    assert.are.same({ "2026-01-31T00:00:00Z", 4, true }, { by_page.since, by_page.page, by_page.resumed })
    local by_cursor = assert(tracker(state_conn(row()), { field = "date", initial = "2026-01-01", lag = "1 day",
      resume = "cursor" }):start())
    assert.are.same({ "2026-02-04T00:00:00Z", 1 }, { by_cursor.since, by_cursor.page })
    local rerun = assert(tracker(state_conn(row())):start())
    assert.are.same({ "2026-01-31T00:00:00Z", 1 }, { rerun.since, rerun.page })
  end)

  it("touches no database in a dry run: it starts at the initial value, or at --since (issue 15)", function()
    local cfg = incremental.config({ field = "date", initial = "2026-01-01T00:00:00Z", lag = "1 day" })
    local function connect() error("a dry run connected to the database") end
    local w = assert(incremental.new(cfg, { name = "p", run_id = "p-1", dry_run = true, connect = connect }):start())
    assert.are.same({ "2026-01-01T00:00:00Z", 1, false }, { w.since, w.page, w.resumed })
    local since = incremental.parse_time("2026-02-09T12:00:00+02:00")
    w = assert(incremental.new(cfg, { name = "p", run_id = "p-1", dry_run = true, connect = connect,
      since = since }):start())
    assert.are.equal("2026-02-09T10:00:00Z", w.since)
  end)
end)

describe("the cursor an incremental run saves", function()
  it("is the newest loaded value, and never goes back", function()
    local conn = state_conn({ version = 0, cursor = "2026-02-10T00:00:00Z" })
    local t = tracker(conn)
    t:start()
    t:observe({ date = "2026-02-09T12:00:00Z" })
    assert.is_true(t:save(conn))
    assert.are.equal("2026-02-10T00:00:00Z", conn.saved[1].payload) -- the older overlap does not lower it
    t:observe({ date = "2026-02-11T03:00:00+02:00" })
    t:observe({ date = "2026-02-10T12:00:00Z" })
    t:observe({ id = "no date" })
    assert.is_true(t:save(conn))
    assert.are.equal("2026-02-11T01:00:00Z", conn.saved[2].payload)
    assert.are.equal(1, t:report_fields().unusable)
  end)

  it("is recomputed from the loaded rows by a full refresh", function()
    local conn = state_conn({ version = 0, cursor = "2030-01-01T00:00:00Z" })
    local t = tracker(conn, nil, { full_refresh = true })
    t:start()
    t:observe({ date = "2026-01-05T00:00:00Z" })
    assert.is_true(t:save(conn))
    assert.are.equal("2026-01-05T00:00:00Z", conn.saved[1].payload)
  end)

  it("saves progress pages counted from the window's first page, and keeps the cursor in place", function()
    local conn = state_conn({ version = 0, cursor = "2026-02-01T00:00:00Z",
      resume = { since = "2026-01-31T00:00:00Z", page = 3 } })
    local t = tracker(conn, { field = "date", initial = "2026-01-01", lag = "1 day", resume = "page" })
    t:start()
    t:observe({ date = "2026-02-03T00:00:00Z" })
    assert.is_true(t:save(conn, 2))
    local progress = conn.saved[1]
    assert.matches("SET resume", progress.sql, 1, true)
    assert.are.same({ run_id = "p-1", since = "2026-01-31T00:00:00Z", page = 5, cursor = "2026-02-03T00:00:00Z" },
      progress.payload)
  end)

  it("is not saved when someone else changed the state meanwhile", function()
    local conn = state_conn({ version = 0 })
    local t = tracker(conn)
    t:start()
    conn.row.version = 9 -- e.g. a `state reset` whose lock was not respected
    local ok, err, code = t:save(conn)
    assert.is_nil(ok)
    assert.are.equal("CONFLICT", code)
    assert.matches("changed or reset by someone else", err, 1, true)
  end)

  it("numeric cursors: max of numbers, lag subtracted", function()
    local conn = state_conn({ version = 0, cursor = 500 })
    local t = tracker(conn, { field = "seq", initial = 0, lag = 50 })
    assert.are.equal(450, t:start().since)
    t:observe({ seq = 480 })
    t:observe({ seq = "612" })
    assert.is_true(t:save(conn))
    assert.are.equal(612, conn.saved[1].payload)
  end)

  it("releases the lock and closes its connection once", function()
    local conn = state_conn(nil)
    local t = tracker(conn)
    t:start()
    t:close()
    t:close()
    assert.are.equal(1, conn.unlocked)
    assert.is_true(conn.closed)
  end)
end)

describe("salesengine state (command line)", function()
  local function usage_error(args)
    local ok, err = pcall(state_cli.parse, args)
    assert.is_false(ok)
    assert.are.equal(2, err.exit_code)
    return err.message
  end

  it("parses show and reset", function()
    assert.are.same({ command = "show" }, state_cli.parse({ "show" }))
    assert.are.same({ command = "show", name = "sales", dsn = "dbname=w", json = true },
      state_cli.parse({ "show", "sales", "--dsn", "dbname=w", "--json" }))
    assert.are.same({ command = "reset", name = "sales", cursor = "2026-01-01", dsn = "x" },
      state_cli.parse({ "reset", "--cursor=2026-01-01", "sales", "--dsn=x" }))
  end)

  it("refuses bad command lines with the usage exit code", function()
    assert.matches("missing command", usage_error({}))
    assert.matches("unknown command 'drop'", usage_error({ "drop", "sales" }))
    assert.matches("give its NAME", usage_error({ "reset" }))
    assert.matches("unknown option '%-%-force'", usage_error({ "reset", "sales", "--force" }))
    assert.matches("needs a value", usage_error({ "show", "--dsn" }))
    assert.matches("unexpected argument 'b'", usage_error({ "show", "a", "b" }))
    assert.matches("--cursor only goes with reset", usage_error({ "show", "a", "--cursor", "1" }), 1, true)
  end)

  it("normalises --cursor values", function()
    assert.are.equal("2026-03-01T08:00:00Z", state_cli.cursor_value("2026-03-01T10:00:00+02:00"))
    assert.are.equal(1234, state_cli.cursor_value("1234"))
    assert.is_nil((state_cli.cursor_value("soon")))
  end)
end)
