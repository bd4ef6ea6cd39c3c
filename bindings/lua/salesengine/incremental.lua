--- salesengine.incremental: incremental cursors for salesengine.etl.
--
-- A pipeline declares
--   incremental = { field = "date", initial = "2026-01-01T00:00:00Z", lag = "1 hour" }
-- and its source becomes a factory: source(window) -> pages, where window.since
-- is where to start (the stored cursor minus the lag, never before initial).
-- The run's new cursor is the largest `field` among the records it loaded and
-- is saved in the load's transaction (salesengine.state). This module holds
-- the cursor arithmetic (timestamps compared exactly, in UTC microseconds) and
-- the per-run tracker the runner drives. Reference: docs/lua-api.md.
local tx = require "salesengine.transform"
local cjson = require "cjson"
local state = require "salesengine.state"
local option_check = require "salesengine.option_check"
local dotted = require "salesengine.path"
local partition = require "salesengine.partition"

local M = {}

-- A mistake in etl.run's spec, in Lua's misuse form.
local function etl_misuse(msg)
  return option_check.misuse_message("run", 1, msg)
end

local MICRO = 1000000

------------------------------------------------------------------------------------------------------------
-- Timestamps: UTC microseconds since 1970-01-01 (Lua integers, exact)

-- Days since 1970-01-01 of a proleptic Gregorian date.
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- The date (y, m, d) of a day number since 1970-01-01.
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

--- Parses an ISO-8601 date-time (the forms salesengine.transform.iso_datetime
-- accepts; no offset means UTC) into UTC microseconds since the epoch.
-- Returns nil, reason when it is not one.
function M.parse_time(value)
  local ok, norm = pcall(tx.iso_datetime, value, "cursor")
  if not ok then
    return nil, tostring(type(norm) == "table" and norm.message or norm)
  end
  local y, mo, d, h, mi, s, frac, sign, oh, om =
    norm:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)([+-])(%d+):(%d+)$")
  local secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
  local offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  return (secs - offset) * MICRO + (frac ~= "" and tonumber(frac) or 0)
end

--- UTC microseconds as "YYYY-MM-DDTHH:MM:SSZ" (".ffffff" before the Z when not zero).
function M.format_time(us)
  local secs, micro = us // MICRO, us % MICRO
  local y, m, d = civil_from_days(secs // 86400)
  local sod = secs % 86400
  local fraction = micro > 0 and string.format(".%06d", micro) or ""
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, m, d, sod // 3600, sod % 3600 // 60, sod % 60,
    fraction)
end

local UNITS = {
  s = 1, sec = 1, secs = 1, second = 1, seconds = 1,
  m = 60, min = 60, mins = 60, minute = 60, minutes = 60,
  h = 3600, hour = 3600, hours = 3600,
  d = 86400, day = 86400, days = 86400,
  w = 604800, week = 604800, weeks = 604800,
}

--- A lag as seconds: a number (seconds), or a string of "<number> <unit>"
-- parts ("90", "15 minutes", "1 hour", "1h30m", "2 days"). Raises on anything else.
function M.parse_lag(lag)
  if lag == nil then
    return 0
  end
  if type(lag) == "number" then
    assert(lag >= 0 and lag == lag and lag ~= math.huge, "incremental.lag must be a finite number >= 0")
    return lag
  end
  assert(type(lag) == "string", "incremental.lag must be seconds (a number) or a string such as \"1 hour\"")
  local text = lag:lower()
  if text:match("^%s*[%d.]+%s*$") then
    return M.parse_lag(assert(tonumber(text), "incremental.lag: bad number " .. lag))
  end
  local total, rest = 0, text
  while rest:match("%S") do
    local n, unit, after = rest:match("^%s*([%d.]+)%s*(%a+)%s*,?(.*)$")
    local mult = unit and UNITS[unit]
    if not (n and tonumber(n) and mult) then
      error(string.format("incremental.lag: cannot read %q (use seconds, or e.g. \"1 hour\", \"30 minutes\")",
        lag), 0)
    end
    total, rest = total + tonumber(n) * mult, after
  end
  return total
end

------------------------------------------------------------------------------------------------------------
-- Cursor kinds: "timestamp" (initial is an ISO-8601 string) or "number"

local Kind = {}

Kind.timestamp = {
  -- The comparable value of a record's field, or nil, reason.
  value = function(v)
    if type(v) ~= "string" then
      return nil, "not a string"
    end
    return M.parse_time(v)
  end,
  -- The stored form (JSON string) of a comparable value.
  store = function(us) return M.format_time(us) end,
  lag = function(seconds) return math.floor(seconds * MICRO + 0.5) end,
}

Kind.number = {
  value = function(v)
    local n = tonumber(v)
    if n == nil or n ~= n then
      return nil, "not a number"
    end
    return n
  end,
  store = function(n) return n end,
  lag = function(amount) return amount end,
}

------------------------------------------------------------------------------------------------------------
-- Spec checking

--- The option names of an `incremental` table.
M.OPTIONS = option_check.set({ "field", "initial", "lag", "resume", "wait", "wait_timeout", "slot" })

--- Checks an `incremental` table of etl.run (mistakes raise) and returns the
-- normalised config {field, get, kind, initial (comparable), lag (comparable
-- units), resume, wait, wait_timeout}.
function M.config(spec)
  assert(type(spec) == "table", "'incremental' must be a table")
  option_check.check(spec, M.OPTIONS, "config", 1, 2)
  local field = spec.field
  assert(type(field) == "string" and field ~= "" or type(field) == "function",
    "incremental.field must be the record's field (a dotted path) or a function(record) -> value")
  local kind_name = type(spec.initial) == "number" and "number" or "timestamp"
  assert(type(spec.initial) == "string" or kind_name == "number",
    "incremental.initial must be an ISO-8601 date-time string or a number")
  local kind = Kind[kind_name]
  local initial, why = kind.value(spec.initial)
  assert(initial, "incremental.initial: " .. tostring(why))
  assert(kind_name == "timestamp" or type(spec.lag) ~= "string",
    "incremental.lag must be a number for a numeric cursor")
  assert(spec.resume == nil or spec.resume == "page" or spec.resume == "cursor",
    "incremental.resume must be \"page\" or \"cursor\"")
  assert(spec.wait == nil or type(spec.wait) == "boolean", "incremental.wait must be a boolean")
  assert(spec.wait_timeout == nil or (type(spec.wait_timeout) == "number" and spec.wait_timeout >= 0),
    "incremental.wait_timeout must be a number of seconds >= 0")
  local get = field
  if type(field) == "string" then
    get = function(record)
      return dotted.get(record, field)
    end
  end
  assert(spec.slot == nil or kind_name == "timestamp", "incremental.slot goes with a timestamp cursor")
  local slot = kind.lag(M.parse_lag(spec.slot or "1 hour"))
  assert(slot > 0, "incremental.slot must be longer than 0")
  return {
    field = type(field) == "string" and field or "(function)", get = get, kind_name = kind_name, kind = kind,
    initial = initial, lag = kind.lag(M.parse_lag(spec.lag)), resume = spec.resume, wait = spec.wait or false,
    wait_timeout = spec.wait_timeout, slot = slot,
  }
end

------------------------------------------------------------------------------------------------------------
-- The per-run tracker

local Tracker = {}
Tracker.__index = Tracker

--- A tracker for one run. cfg: from M.config. ctx: name, run_id, connect
-- (function() -> conn | nil, message, code; not called in a dry run),
-- full_refresh, dry_run, since (a dry run's start instead of initial: a
-- comparable value, from --since), log(level, msg, fields), partition
-- ({index, count} or nil: salesengine.partition), now() (seconds, for the
-- window's end under a partition).
function M.new(cfg, ctx)
  return setmetatable({
    cfg = cfg, name = ctx.name, run_id = ctx.run_id, connect = ctx.connect, full_refresh = ctx.full_refresh,
    dry_run = ctx.dry_run, since = ctx.since, log = ctx.log or function() end,
    partition = ctx.partition, now = ctx.now or os.time,
    lock_conn = nil, locked = false, version = nil, stored = nil, window = nil,
    max = nil, observed = 0, unusable = 0,
  }, Tracker)
end

-- A stored cursor value (JSON string or number) as a comparable value; nil when unusable.
function Tracker:comparable(v)
  if v == nil then
    return nil
  end
  return (self.cfg.kind.value(v))
end

-- Connects, locks the pipeline, creates its state row; sets self.version and self.stored.
function Tracker:acquire()
  local conn, err, code = self.connect()
  if not conn then
    return nil, err, code
  end
  self.lock_conn = conn
  -- name the session after the run, so a waiting run can say who holds the lock
  conn:exec("SELECT set_config('application_name', $1, false)", ("salesengine " .. self.run_id):sub(1, 63))
  local ok
  ok, err, code = state.lock(conn, self.name, {
    wait = self.cfg.wait, timeout = self.cfg.wait_timeout,
    on_wait = function(msg) self.log("warn", msg, { pipeline = self.name }) end,
  })
  if not ok then
    return nil, err, code
  end
  self.locked = true
  ok, err, code = state.ensure(conn)
  if ok then
    ok, err, code = state.init(conn, self.name)
  end
  if not ok then
    return nil, err, code
  end
  local row
  row, err, code = state.read(conn, self.name)
  if not row then
    return nil, err or "the state row of '" .. self.name .. "' vanished", code
  end
  self.version, self.stored = row.version, row
  return true
end

--- Starts the run: locks the pipeline and reads its state (a dry run, which
-- touches no database, does neither: its window starts at initial, or at
-- since) and returns the window {since, since_unix, page, cursor, resumed,
-- full_refresh}, or nil, message, code ("LOCKED" when another run holds the lock).
function Tracker:start()
  if not self.dry_run then
    local ok, err, code = self:acquire()
    if not ok then
      return nil, err, code
    end
  end
  local cfg, kind = self.cfg, self.cfg.kind
  local stored = self.stored or {}
  local resume = not self.full_refresh and stored.resume or nil
  local cursor = not self.full_refresh and self:comparable(stored.cursor) or nil
  local since, page = self.since or cfg.initial, 1
  if resume and self:comparable(resume.since) then
    since = self:comparable(resume.since)
    local done = self:comparable(resume.cursor)
    local done_pages = math.tointeger(resume.page)
    if cfg.resume == "page" and done_pages and done_pages >= 0 then
      page = done_pages + 1
    elseif cfg.resume == "cursor" and done and done - cfg.lag > since then
      since = done - cfg.lag
    end
    self.max = done
    self.resume_full_refresh = resume.full_refresh == true
  elseif cursor then
    since = math.max(cfg.initial, cursor - cfg.lag)
  end
  self.previous = cursor
  self.window = {
    since = kind.store(since), page = page, cursor = not self.full_refresh and stored.cursor or nil,
    resumed = resume ~= nil,
    full_refresh = self.full_refresh == true, initial = kind.store(cfg.initial),
  }
  if cfg.kind_name == "timestamp" then
    self.window.since_unix = since / MICRO
  end
  if self.partition then
    self:partition_window(since)
  end
  self.log("info", "incremental window", { pipeline = self.name, since = self.window.since,
    cursor = self.window.cursor, page = page, resumed = resume ~= nil, full_refresh = self.window.full_refresh })
  if self.dry_run then
    self.log("info", string.format("dry run: the window starts at %s (%s: a dry run reads no stored cursor%s)",
      self.window.since, self.since and "--since" or "its initial value",
      self.since and "" or "; --since VALUE starts it elsewhere"), { pipeline = self.name })
  end
  return self.window
end

-- Under a partition: the window's end (now), and the partition's own parts
-- of [since, now) as window.sub_windows = {{since =, ["until"] =}, ...} (UTC
-- text, slots of cfg.slot: slot s belongs to partition s % N).
function Tracker:partition_window(since)
  local kind, now = self.cfg.kind, math.floor(self.now() * MICRO)
  self.window["until"] = kind.store(now)
  self.window.partition = { index = self.partition.index, count = self.partition.count }
  local subs = {}
  for i, w in ipairs(partition.sub_windows(self.partition, since, now, self.cfg.slot)) do
    subs[i] = { since = kind.store(w.since), ["until"] = kind.store(w["until"]) }
  end
  self.window.sub_windows = subs
end

--- True when record belongs to this run's partition (always without one): its
-- cursor falls in one of the partition's slots; a record whose cursor cannot
-- be read belongs to partition 0.
function Tracker:takes(record)
  if not self.partition then
    return true
  end
  local ok, v = pcall(self.cfg.get, record)
  local t = ok and self:comparable(v) or nil
  if t == nil then
    return self.partition.index == 0
  end
  return partition.takes_time(self.partition, t, self.cfg.slot)
end

--- Notes a record that was loaded: its field may raise the new cursor.
-- Records whose field is missing or unreadable are counted, not used.
function Tracker:observe(record)
  local v = self.cfg.get(record)
  local c = v ~= nil and v ~= cjson.null and self.cfg.kind.value(v) or nil
  if c == nil then
    self.unusable = self.unusable + 1
    return
  end
  self.observed = self.observed + 1
  if self.max == nil or c > self.max then
    self.max = c
  end
end

-- The cursor a successful end of the run saves (comparable), or nil.
function Tracker:final_cursor()
  local keep_previous = not self.full_refresh and not self.resume_full_refresh
  local c = self.max
  if keep_previous and self.previous ~= nil and (c == nil or self.previous > c) then
    c = self.previous
  end
  return c
end

--- Saves state on conn inside the caller's open transaction: the progress of a
-- commit-every run (pages = how many pages of the window are now committed,
-- counted from the window's first page), or with pages == nil the completed
-- run (new cursor, resume point cleared). Returns true or nil, message, code.
function Tracker:save(conn, pages)
  local kind = self.cfg.kind
  local new_version, err, code
  if pages ~= nil then
    new_version, err, code = state.save_progress(conn, self.name, self.version, {
      run_id = self.run_id, since = self.window.since, page = self.window.page - 1 + pages,
      cursor = self.max and kind.store(self.max) or nil,
      full_refresh = self.full_refresh or self.resume_full_refresh or nil,
    })
  else
    local c = self:final_cursor()
    new_version, err, code = state.save(conn, self.name, self.version, {
      cursor = c and kind.store(c) or nil, cursor_field = self.cfg.field, since = self.window.since,
      run_id = self.run_id,
    })
  end
  if not new_version then
    return nil, err, code
  end
  self.version = new_version
  return true
end

--- Log fields describing the run's cursor once it ended well.
function Tracker:report_fields()
  local c = self:final_cursor()
  return { pipeline = self.name, since = self.window.since, cursor = c and self.cfg.kind.store(c) or nil,
    previous = self.window.cursor, unusable = self.unusable > 0 and self.unusable or nil }
end

--- Saves the completed run in a transaction of its own on the lock connection
-- (when no load transaction carried it: nothing loaded, or commit-every mode).
function Tracker:save_alone()
  local conn = self.lock_conn
  return conn:transaction(function(c) return self:save(c) end)
end

--- Releases the lock and closes the lock connection (idempotent).
function Tracker:close()
  local conn = self.lock_conn
  self.lock_conn = nil
  if conn then
    if self.locked then
      state.unlock(conn, self.name)
    end
    conn:close()
  end
  self.locked = false
end

------------------------------------------------------------------------------------------------------------
-- The incremental run

-- The records of a page the way salesengine.etl finds them (spec.records), for counting.
local function page_records(spec, page)
  local sel = spec.records
  if type(sel) == "string" then
    return dotted.get(page, sel)
  elseif type(sel) == "function" then
    return (sel(page))
  end
  return page
end

-- Wraps source and transform to know, at any commit, how many pages have all
-- their records through the transform (hence committed, skipped or rejected);
-- records takes(record) refuses (another partition's) are skipped. Returns
-- the wrapped source, the wrapped transform and pages_done().
local function page_counter(spec, source, takes)
  local ends, handed, processed, finished = {}, 0, 0, false
  local function count(page)
    local records = page_records(spec, page)
    handed = handed + 1
    ends[handed] = (ends[handed - 1] or 0) + (type(records) == "table" and #records or 0)
  end
  local function wrapped_source()
    local a, b, c, d = source()
    if math.type(a) == "integer" then -- a salesengine.paginate iterator: n, page | n, nil, err, code
      if b ~= nil then
        handed = handed + 1
        ends[handed] = (ends[handed - 1] or 0) + (type(b.items) == "table" and #b.items or 0)
      end
    elseif a ~= nil then
      count(a)
    elseif b == nil then
      finished = true
    end
    return a, b, c, d
  end
  local user = spec.transform
  local function wrapped_transform(record)
    processed = processed + 1
    if not takes(record) then
      return nil -- another partition's record: skipped
    end
    if user then
      return user(record)
    end
    return record
  end
  local function pages_done()
    if finished then
      return handed
    end
    local p = handed
    while p > 0 and ends[p] > processed do
      p = p - 1
    end
    return p
  end
  return wrapped_source, wrapped_transform, pages_done
end

--- Runs an incremental pipeline: etl.run's spec with `incremental` (see
-- docs/lua-api.md), where `source` is a factory function(window) -> source.
-- Locks the pipeline, reads its state, runs the pipeline with run_fn
-- (etl.run's runner for a spec without `incremental`) with hooks that track
-- the cursor and save it in the load's transaction, then unlocks. Returns the
-- run's summary; expected failures end the run with salesengine.fail like etl.run.
function M.run(spec, run_fn)
  local se = require "salesengine"
  local sys = require "salesengine.sys"
  local log = require "salesengine.log"
  local made, cfg = pcall(M.config, spec.incremental)
  if not made then
    error(etl_misuse(cfg), 2)
  end
  if type(spec.source) ~= "function" then
    error(etl_misuse("option 'source': with 'incremental', a function(window) returning the source expected"), 2)
  end
  for _, hook in ipairs({ "on_loaded", "before_commit" }) do
    if spec[hook] ~= nil then
      error(etl_misuse("option '" .. hook .. "': cannot be combined with 'incremental' (it uses that hook)"), 2)
    end
  end
  local opts = sys.options()
  local dry_run = spec.dry_run
  if dry_run == nil then
    dry_run = opts.dry_run or false
  end
  local run_id = spec.run_id or string.format("%s-%s-%d", spec.name, os.date("!%Y%m%dT%H%M%SZ"), sys.getpid())
  local since
  if opts.since ~= nil then
    if not dry_run then
      se.fail("usage", "--since only goes with --dry-run (a run starts from the stored cursor; to move it: " ..
        "salesengine state reset " .. spec.name .. " --cursor VALUE)")
    end
    local why
    since, why = cfg.kind.value(opts.since)
    if since == nil then
      se.fail("usage", string.format("--since %s: %s (the cursor of '%s' is %s)", opts.since, tostring(why),
        spec.name, cfg.kind_name == "number" and "a number" or "an ISO-8601 date-time"))
    end
  end
  local part = partition.current()
  local state_name = spec.name
  if part then
    if cfg.kind_name ~= "timestamp" then
      se.fail("usage", string.format("--partition %s: '%s' has a numeric cursor; only a timestamp cursor " ..
        "splits (by time slots, docs/scale-out.md)", partition.label(part), spec.name))
    end
    state_name = spec.name .. "#" .. partition.label(part) -- its own state row and lock
  end
  local db = spec.db
  local tracker = M.new(cfg, {
    name = state_name, run_id = run_id, full_refresh = opts.full_refresh, dry_run = dry_run, since = since,
    partition = part, now = sys.time,
    connect = db and function() return require("salesengine.pg").connect(db) end or nil,
    log = function(level, msg, fields) log[level](msg, fields) end,
  })
  local window, err, code = tracker:start()
  if not window then
    tracker:close()
    se.fail("load", err, code)
  end
  local ok, result = pcall(function()
    local source = partition.by_time(spec.source, window) -- records split by time slots, not pages
    assert(type(source) == "function", "the incremental source factory (option 'source') returned no source function")
    local inner = {}
    for k, v in pairs(spec) do
      inner[k] = v
    end
    inner.incremental, inner.run_id = nil, run_id
    local pages_done
    inner.source, inner.transform, pages_done = page_counter(spec, source, function(r) return tracker:takes(r) end)
    local batch_mode = spec.commit == "batch"
    local final_saved = false
    inner.on_loaded = function(records)
      for _, r in ipairs(records) do
        tracker:observe(r)
      end
    end
    if not dry_run then
      inner.before_commit = function(conn)
        if batch_mode then
          return tracker:save(conn, pages_done())
        end
        final_saved = true
        return tracker:save(conn)
      end
    end
    local summary = run_fn(inner)
    if not dry_run and not final_saved then
      local sok, serr, scode = tracker:save_alone()
      if not sok then
        se.fail("load", "saving the state of '" .. spec.name .. "' failed: " .. tostring(serr), scode)
      end
    end
    if not dry_run then
      log.info("incremental state saved", tracker:report_fields())
    end
    return summary
  end)
  tracker:close()
  if not ok then
    error(result, 0)
  end
  return result
end

return M
