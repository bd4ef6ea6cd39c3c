--- salesengine.etl: the streaming pipeline runner.
--
--   etl.run{
--     name = "sales",
--     source = pages_iterator,      -- function() -> page | nil (end) | nil, message, code
--     records = "sales",            -- where the records are in a page (path or function); default: the page
--     transform = transform.transform,  -- record -> row | nil (skip); raise to reject the record
--     sink = { table = "fact_sales", key = { "sale_id" }, update = { "revenue" } },
--     db = dsn, setup = schema_sql, max_rejects = "1%",
--   }
--
-- Streams page by page (memory bounded by a page and a batch), counts
-- everything, times each stage, sends rejected records to a dead-letter table
-- or file, and ends with a summary (log line, --summary-json). Expected
-- failures end the run through salesengine.fail with the exit codes extract,
-- load and rejects. Reference: docs/lua-api.md.
local se = require "salesengine"
local sys = require "salesengine.sys"
local log = require "salesengine.log"
local cjson = require "cjson"
local json = require "salesengine.json"
local etl_load = require "salesengine.etl_load"
local etl_rejects = require "salesengine.etl_rejects"
local etl_progress = require "salesengine.etl_progress"
local etl_summary = require "salesengine.etl_summary"
local metrics = require "salesengine.metrics"
local option_check = require "salesengine.option_check"
local shape = require "salesengine.shape"
local path_of = require "salesengine.path"
local script_bug = require "salesengine.script_bug"
local etl_evolve = require "salesengine.etl_evolve"
local partition = require "salesengine.partition"

local M = {}

local DEFAULT_BATCH = 1000
local LOGGED_REJECTS = 10 -- rejects logged one by one; the rest only counted

--- True when t is a table that is a (possibly empty) array.
function M.is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

--- A source over a list of pages (each a list of records), for tests and small jobs.
function M.pages(list)
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

--- A source of one page: fn() is called once (e.g. a single http.get_json)
-- and its results returned; the next call ends the source.
function M.once(fn)
  local done = false
  return function()
    if done then
      return nil
    end
    done = true
    return fn()
  end
end

--- Sources one after the other: each runs to its end before the next starts.
function M.chain(...)
  local list, i = { ... }, 1
  return function()
    while list[i] do
      local a, b, c, d = list[i]()
      if a ~= nil or b ~= nil then
        return a, b, c, d
      end
      i = i + 1
    end
    return nil
  end
end

--- A source over a list of records, cut into pages of page_size (default 1000).
function M.records(list, page_size)
  page_size = page_size or DEFAULT_BATCH
  local first = 1
  return function()
    if first > #list then
      return nil
    end
    local page = table.move(list, first, math.min(first + page_size - 1, #list), 1, {})
    first = first + page_size
    return page
  end
end

--- The text of a file in the calling script's folder (e.g. its schema.sql);
-- raises when it cannot be read.
function M.read_beside(name)
  local dir = debug.getinfo(2, "S").source:match("^@(.*/)") or "./"
  local f, err = io.open(dir .. name, "rb")
  if not f then
    error("cannot read " .. tostring(err), 2)
  end
  local text = f:read("a")
  f:close()
  return text
end

-- One member for salesengine.path: records of http.records are read through
-- json.member, so a source that lists its fields never makes the runner's
-- own reads (the key) fail; a member already built is read raw (the runner
-- does this for every record).
local function member(t, name)
  local v = rawget(t, name)
  if v == nil and type(name) == "string" then
    v = json.member(t, name)
  end
  return v
end

-- Follows a dotted path ("customer.id") in t by salesengine.path's rule.
local function get_path(t, path)
  return path_of.get(t, path, member)
end

-- The member a key path of one plain name reads ("id"), or nil for any other
-- key (a dotted path, a name of digits, a function, none).
local function one_member(key)
  if type(key) ~= "string" then
    return nil
  end
  local names = path_of.names(key)
  if #names ~= 1 or names[1]:match("^%d+$") then
    return nil
  end
  return names[1]
end

-- The option names of etl.run's spec (with those of a sink, `rejects` and
-- `incremental`; salesengine.option_check).
local SINK_OPTIONS = option_check.set({ "table", "name", "key", "columns", "update", "set", "skip_unchanged",
  "batch_size", "empty_as", "lock_timeout", "statement_timeout", "evolve", "types", "copy_new_keys", "copy_binary" })
local RUN_OPTIONS = option_check.set({ "name", "source", "records", "transform", "sinks", "db", "setup",
  "key", "batch_size", "commit", "max_rejects", "on_loaded", "before_commit", "sample_rows", "dry_run",
  "summary_json", "progress", "run_id" }, {
  sink = SINK_OPTIONS,
  rejects = option_check.set({ "table", "file" }),
  incremental = require("salesengine.incremental").OPTIONS,
})

-- Raises, at the line that called etl.run, on an option name that etl.run,
-- a sink, `rejects` or `incremental` does not know.
local function check_names(spec)
  local level = 3 -- check_names, M.run, its caller
  option_check.check(spec, RUN_OPTIONS, "run", 1, level)
  if type(spec.sinks) == "table" then
    for i, s in ipairs(spec.sinks) do
      if type(s) == "table" then
        option_check.check(s, SINK_OPTIONS, "run", 1, level, "sinks[" .. i .. "].")
      end
    end
  end
end

-- Raises the misuse of etl.run's option key (nil: of the spec as a whole);
-- run_checked reports it at the script's line.
local function bad(key, what, ...)
  option_check.bad_value("run", 1, key, string.format(what, ...), 0)
end

-- Checks the spec (mistakes raise) and fills in defaults; returns the sinks list.
local function check_spec(spec)
  if type(spec.name) ~= "string" or spec.name == "" then
    bad("name", "a non-empty string expected, got %s", spec.name == "" and "''" or option_check.typename(spec.name))
  end
  if type(spec.source) ~= "function" then
    bad("source", "a function returning pages expected, got %s", option_check.typename(spec.source))
  end
  for _, f in ipairs({ "transform", "on_loaded", "before_commit" }) do
    if spec[f] ~= nil and type(spec[f]) ~= "function" then
      bad(f, "function expected, got %s", type(spec[f]))
    end
  end
  if (spec.sink == nil) == (spec.sinks == nil) then
    bad(nil, "give exactly one of the options 'sink' and 'sinks'")
  end
  local list = spec.sinks or { spec.sink }
  local sinks = {}
  for i, s in ipairs(list) do
    local name = spec.sinks and "sinks[" .. i .. "]" or "sink"
    if type(s) ~= "table" then
      bad(name, "table expected, got %s", type(s))
    elseif type(s.table) ~= "string" then
      bad(name .. ".table", "a table name expected, got %s", option_check.typename(s.table))
    elseif s.evolve ~= nil and not etl_evolve.MODES[s.evolve] then
      bad(name .. ".evolve", "\"freeze\" or \"add_columns\" expected, got %s", tostring(s.evolve))
    elseif s.types ~= nil and type(s.types) ~= "table" then
      bad(name .. ".types", "table expected, got %s", type(s.types))
    end
    for column, ty in pairs(s.types or {}) do
      if type(column) ~= "string" or type(ty) ~= "string" then
        bad(name .. ".types", "column names mapped to SQL type names expected")
      end
    end
    for _, switch in ipairs({ "copy_new_keys", "copy_binary" }) do
      if s[switch] ~= nil and type(s[switch]) ~= "boolean" then
        bad(name .. "." .. switch, "boolean expected, got %s", option_check.typename(s[switch]))
      end
    end
    local options, timeouts = {}, {}
    for k, v in pairs(s) do
      if k == "lock_timeout" or k == "statement_timeout" then
        timeouts[k] = v
      elseif k ~= "table" and k ~= "name" and k ~= "evolve" and k ~= "types" and k ~= "copy_new_keys"
        and k ~= "copy_binary" then
        options[k] = v
      end
    end
    sinks[i] = { name = s.name or s.table, table = s.table, options = options, timeouts = timeouts,
      evolve = s.evolve, types = s.types, copy_new_keys = s.copy_new_keys, copy_binary = s.copy_binary }
  end
  if #sinks == 0 then
    bad("sinks", "a non-empty list of sinks expected")
  end
  if spec.commit ~= nil and spec.commit ~= "run" and spec.commit ~= "batch" then
    bad("commit", "\"run\" or \"batch\" expected, got %s", tostring(spec.commit))
  end
  if spec.rejects ~= nil and not (type(spec.rejects) == "table" and (spec.rejects.table or spec.rejects.file)) then
    bad("rejects", "{table = name} or {file = path} expected")
  end
  return sinks
end

local Run = {}
Run.__index = Run

-- A run's state, from a checked spec.
local function new_run(spec)
  local sinks = check_spec(spec)
  local opts = sys.options()
  local function pick(v, default)
    if v == nil then
      return default
    end
    return v
  end
  local dry_run = pick(spec.dry_run, opts.dry_run or false)
  if not dry_run then
    if type(spec.db) ~= "string" then
      bad("db", "a connection string expected (not needed with --dry-run), got %s", option_check.typename(spec.db))
    end
  end
  local self = setmetatable({
    spec = spec,
    name = spec.name,
    sinks = sinks,
    dry_run = dry_run,
    summary_json = pick(spec.summary_json, opts.summary_json),
    batch_size = spec.batch_size or DEFAULT_BATCH,
    started_at = sys.time(),
    t0 = sys.monotonic(),
    counts = { pages = 0, extracted = 0, loaded = 0, skipped = 0, rejected = 0, rows = 0 },
    timings = { extract = 0, transform = 0, load = 0, total = 0 },
    key_member = one_member(spec.key),
    one_sink = spec.sink ~= nil,
    samples = {},
    would_load = {},
    finished = false,
  }, Run)
  self.pending = etl_load.batch(self.one_sink)
  self.run_id = spec.run_id or string.format("%s-%s-%d", spec.name, os.date("!%Y%m%dT%H%M%SZ"), sys.getpid())
  local function connect()
    return require("salesengine.pg").connect(spec.db)
  end
  local dest = spec.rejects or { table = "etl_rejects" }
  self.rejects = etl_rejects.new({
    run_id = self.run_id,
    pipeline = spec.name,
    limit = etl_rejects.parse_limit(spec.max_rejects),
    dest = { file = dest.file, table = dest.table, connect = connect },
    dry_run = dry_run,
    now = function() return etl_summary.iso_utc(sys.time()) end,
    on_reject = function(e) self:log_reject(e) end,
  })
  if not dry_run then
    self.evolvers = {}
    for i, s in ipairs(sinks) do
      self.evolvers[i] = etl_evolve.new({ name = s.name, table = s.table, columns = s.options.columns,
        evolve = s.evolve, types = s.types }, function(level, msg, fields) self:log(level, msg, fields) end)
    end
    self.loader = etl_load.new({
      name = spec.name, connect = connect, setup = spec.setup, sinks = sinks, commit = spec.commit,
      on_loaded = spec.on_loaded, before_commit = function(conn) return self:before_commit(conn) end,
      on_refused = function(entry, message, code, tbl) self:refused(entry, message, code, tbl) end,
    })
  end
  self.progress = etl_progress.new({
    enabled = pick(spec.progress, sys.isatty(2) and not opts.quiet),
    name = spec.name,
    clock = sys.monotonic,
  })
  self.bugs = script_bug.watch(function(r) self:reject(r) end)
  return self
end

-- Right before each COMMIT of the load: the script's before_commit, then the
-- dead-letter bookkeeping (etl_rejects.mark_committed) in the same transaction.
function Run:before_commit(conn)
  if self.spec.before_commit then
    local ok, err, code = self.spec.before_commit(conn)
    if not ok then
      return nil, err, code
    end
  end
  return self.rejects:mark_committed(conn, etl_summary.iso_utc(self.started_at))
end

-- Logs at level after erasing the progress line.
function Run:log(level, msg, fields)
  self.progress:clear()
  log[level](msg, fields)
end

function Run:progress_counts()
  return { pages = self.counts.pages, records = self.counts.extracted, rejected = self.rejects.count }
end

-- The text of an error raised by a transform: tostring for strings and
-- objects with __tostring; "field 'f': message" for plain {field, message} tables.
local function reason_of(err)
  local mt = getmetatable(err)
  if type(err) == "table" and not (mt and mt.__tostring) and err.message ~= nil then
    return (err.field and ("field '" .. tostring(err.field) .. "': ") or "") .. tostring(err.message)
  end
  return tostring(err)
end

-- "record 7 (id S7)": how messages name a record.
local function describe(index, key)
  if key ~= nil then
    return string.format("record %d (id %s)", index, key)
  end
  return string.format("record %d", index)
end

-- v cut to at most LOG_TEXT_MAX bytes (never inside a UTF-8 character) for a
-- log line; the dead-letter destination keeps the whole value.
local LOG_TEXT_MAX = 300
local function log_text(v)
  if type(v) ~= "string" or #v <= LOG_TEXT_MAX then
    return v
  end
  local cut = LOG_TEXT_MAX
  while cut > 0 and (v:byte(cut + 1) or 0) & 0xC0 == 0x80 do
    cut = cut - 1
  end
  return v:sub(1, cut) .. string.format("...(%d bytes)", #v)
end

-- Logs one reject (the first few one by one).
function Run:log_reject(e)
  if e.seq <= LOGGED_REJECTS then
    self:log("warn", "record rejected", { record = e.index, key = log_text(e.record_key), stage = e.stage,
      field = log_text(e.field), reason = log_text(e.reason), code = e.code })
  elseif e.seq == LOGGED_REJECTS + 1 then
    self:log("warn", "more records rejected; further rejects are counted, not logged",
      { rejects_to = self.rejects:destination() })
  end
end

-- The record's key for messages and the dead-letter (spec.key: path or function; default "id").
function Run:key_of(record)
  local k = self.spec.key or "id"
  local ok, v
  if type(k) == "function" then
    ok, v = pcall(k, record)
  else
    ok, v = true, get_path(record, k)
  end
  if not ok or v == nil or v == cjson.null or type(v) == "table" then
    return nil
  end
  if math.type(v) == "float" then
    v = math.tointeger(v) or v -- JSON 42 decodes as 42.0: show it as 42
  end
  return tostring(v)
end

-- Adds a reject; ends the run when the dead-letter fails or max_rejects (a count) is exceeded.
function Run:reject(r)
  local ok, err, code = self.rejects:add(r)
  if not ok then
    self:fail("load", err, code)
  end
  if self.rejects:over_count() then
    self:fail_rejects()
  end
end

-- on_refused from the loader: PostgreSQL refused this record's rows on their own.
function Run:refused(entry, message, code, tbl)
  message = tostring(message)
  local reason = message .. " [" .. tostring(code) .. "]"
  if not message:find(tbl, 1, true) then
    reason = tbl .. ": " .. reason
  end
  self:reject({
    stage = "load", index = entry.index, key = self:key_of(entry.record), record = entry.record, code = code,
    reason = reason,
    field = message:match('column "([^"]+)"') or message:match("column ([%w_]+)[:%s]"),
  })
end

-- Ends the run as a script error (exit 1) for a bug the transform hit at
-- record index: nothing is loaded, no reject is written for it. The summary
-- holds the first line; stderr gets the context and the traceback too.
function Run:fail_script(bug, index, record)
  self:wind_up("script", bug.message)
  local what = bug.because or describe(index, self:key_of(record)) .. " hit it"
  se.fail("script", string.format("%s\n(in the transform: %s; a bug in the script, not bad data: nothing was " ..
    "loaded)\n%s", bug.message, what, bug.traceback))
end

-- Ends the run with the rejects exit code, naming the first reject.
function Run:fail_rejects()
  local first = self.rejects.first
  local what = first.stage == "load" and "was refused" or "is invalid"
  self:fail("rejects", string.format("too many rejects: %d of %d records (max_rejects %s); first: %s %s: %s",
    self.rejects.count, self.counts.extracted, etl_rejects.describe_limit(self.rejects.limit),
    describe(first.index, first.record_key), what, first.reason), first.code)
end

-- For several sinks: what transform returned as {sink name -> list of rows},
-- or nil when it has no rows (the record is skipped).
function Run:rows_of(out)
  local rows, total = {}, 0
  for _, s in ipairs(self.sinks) do
    local v = out[s.name]
    if v == nil then
      v = {}
    elseif not M.is_array(v) then
      v = { v }
    end
    rows[s.name] = v
    total = total + #v
  end
  for k in pairs(out) do
    if rows[k] == nil then
      error("etl: transform returned rows for '" .. tostring(k) .. "', which is not a sink name", 0)
    end
  end
  if total == 0 then
    return nil
  end
  return rows
end

-- Why record's key (spec.key, when the spec names one) is unusable, or nil
-- when it is a string or a number (or the record is no object: the
-- transform says what is wrong with it).
function Run:key_problem(record)
  local k = self.spec.key
  if k == nil or type(k) == "function" or type(record) ~= "table" then
    return nil
  end
  local v = get_path(record, k)
  if type(v) == "string" or type(v) == "number" then
    return nil
  elseif v == nil then
    return string.format("record key '%s' is missing", k)
  elseif v == cjson.null then
    return string.format("record key '%s' is null", k)
  end
  return string.format("record key '%s' is %s, not a string or a number", k,
    type(v) == "table" and "an object or array" or "a " .. type(v))
end

-- Transforms one record: a pending entry, a skip, or a reject.
function Run:transform_record(record)
  local counts = self.counts
  local index = counts.extracted + 1
  counts.extracted = index
  local name = self.key_member
  local v = name and type(record) == "table" and rawget(record, name)
  local tv = type(v)
  if not (tv == "string" or tv == "number") then
    local bad_key = self:key_problem(record)
    if bad_key then
      self:reject({ stage = "transform", index = index, key = self:key_of(record), record = record,
        reason = bad_key, code = "INVALID", field = self.spec.key })
      return
    end
  end
  local transform = self.spec.transform
  if transform then
    self:take_outcome(index, record, xpcall(transform, script_bug.handler, record))
  else
    self:take_outcome(index, record, true, record)
  end
end

-- What the transform of record (number index) gave: ok and out as xpcall
-- returns them. A row becomes a pending entry; nil skips the record; an
-- error is a reject, or the end of the run for a bug in the script.
function Run:take_outcome(index, record, ok, out)
  local counts = self.counts
  if not ok then
    if se.is_failure(out) then
      error(out, 0)
    end
    local bug = self.bugs:failed(out, { stage = "transform", index = index, key = self:key_of(record),
      record = record, reason = reason_of(out), code = "INVALID",
      field = type(out) == "table" and out.field or nil })
    if bug then
      self:fail_script(bug, index, record)
    end
    return
  end
  if self.bugs.watching then
    self.bugs:passed()
  end
  if out == nil then
    counts.skipped = counts.skipped + 1
    return
  end
  if type(out) ~= "table" then
    error("etl: transform must return a table (a row), or nil to skip the record", 0)
  end
  if not self.one_sink then
    out = self:rows_of(out)
    if out == nil then
      counts.skipped = counts.skipped + 1
      return
    end
  end
  counts.rows = counts.rows + 1
  local pending = self.pending
  local n = pending.n + 1
  pending.n = n
  pending.index[n], pending.record[n], pending.out[n] = index, record, out
end

-- Transforms the records of one page, loading each full batch. The
-- runner's work per record: the common case (a key of one member that is a
-- string or a number, one sink, a transform that returns a row, no bug
-- being watched) runs here with the run's fields in locals, the same steps
-- as transform_record and take_outcome; any other record goes through them.
function Run:transform_page(records)
  local counts, name, bugs, batch_size = self.counts, self.key_member, self.bugs, self.batch_size
  local transform, handler = self.spec.transform, script_bug.handler
  local inline = transform ~= nil and name ~= nil and self.one_sink
  local pending = self.pending
  local t = sys.monotonic()
  for _, record in ipairs(records) do
    local v = inline and not bugs.watching and type(record) == "table" and rawget(record, name)
    local tv = type(v)
    if tv == "string" or tv == "number" then
      local index = counts.extracted + 1
      counts.extracted = index
      local ok, out = xpcall(transform, handler, record)
      if ok and type(out) == "table" then
        counts.rows = counts.rows + 1
        local n = pending.n + 1
        pending.n = n
        pending.index[n], pending.record[n], pending.out[n] = index, record, out
      else
        self:take_outcome(index, record, ok, out)
      end
    else
      self:transform_record(record)
    end
    if pending.n >= batch_size then
      self.timings.transform = self.timings.transform + sys.monotonic() - t
      self:flush()
      pending = self.pending
      t = sys.monotonic()
    end
  end
  self.timings.transform = self.timings.transform + sys.monotonic() - t
end

-- Dry run: counts what would be loaded (batch b's rows) and keeps a few sample rows per table.
function Run:dry_load(b)
  local keep = self.spec.sample_rows or 3
  for i = 1, b.n do
    for _, s in ipairs(self.sinks) do
      local list = etl_load.rows_for(b, i, s.name)
      self.would_load[s.table] = (self.would_load[s.table] or 0) + #list
      self.samples[s.table] = self.samples[s.table] or {}
      for _, row in ipairs(list) do
        if #self.samples[s.table] < keep then
          table.insert(self.samples[s.table], row)
        end
      end
    end
  end
  self.counts.loaded = self.counts.loaded + b.n
end

-- Loads the pending batch (or counts it in a dry run) and flushes rejects.
function Run:flush()
  local b = self.pending
  self.pending = etl_load.batch(self.one_sink)
  local t = sys.monotonic()
  if self.dry_run then
    self:dry_load(b)
  elseif b.n > 0 then
    self:evolve(b)
    local ok, err, code = self.loader:load(b)
    self.counts.loaded = self.loader.loaded
    if not ok then
      self.timings.load = self.timings.load + sys.monotonic() - t
      self:fail("load", err, code)
    end
  end
  local ok, err, code = self.rejects:flush()
  self.timings.load = self.timings.load + sys.monotonic() - t
  if not ok then
    self:fail("load", err, code)
  end
end

-- Before batch b is loaded: each sink's table gets the columns its rows
-- carry, or the run fails (sink.evolve: salesengine.etl_evolve).
function Run:evolve(b)
  local function free() -- the connection, once the rows written so far are in (the writer closed)
    local ok, err, code = self.loader:release()
    if not ok then
      self:fail("load", err, code)
    end
    self.counts.loaded = self.loader.loaded
    return self.loader.conn
  end
  for _, ev in ipairs(self.evolvers) do
    local ok, err, code = ev:check(b, free)
    if not ok then
      self:fail("load", err, code)
    end
  end
end

-- Waits for the batch the loader may still be merging (overlapped loads),
-- then flushes the rejects it produced. A failure ends the run.
function Run:settle()
  if self.loader == nil then
    return
  end
  local t = sys.monotonic()
  local ok, err, code = self.loader:settle()
  self.counts.loaded = self.loader.loaded
  if ok then
    ok, err, code = self.rejects:flush()
  end
  self.timings.load = self.timings.load + sys.monotonic() - t
  if not ok then
    self:fail("load", err, code)
  end
end

-- The records of a page (spec.records: a path or a function), or nil, message.
function Run:records_of(page)
  local sel = self.spec.records
  local records = page
  if type(sel) == "string" then
    records = get_path(page, sel)
  elseif type(sel) == "function" then
    local err
    records, err = sel(page)
    if records == nil and err then
      return nil, err
    end
  end
  if not M.is_array(records) then
    if type(sel) == "string" then
      local found, why = shape.lookup(page, sel, "the page")
      return nil, string.format("page %d has no \"%s\" array: %s", self.counts.pages, sel,
        why or string.format("'%s' in the page is %s", sel, shape.kind(found)))
    end
    return nil, string.format("page %d is not a list of records", self.counts.pages)
  end
  return records
end

-- Pulls the next page from the source; nil at the end. An extract failure
-- ends the run. A source is either a function returning page | nil | nil,
-- message, code, or a salesengine.paginate iterator returning n, page
-- ({items = records, ...}) | n, nil, message, code | nil.
function Run:next_page()
  local t = sys.monotonic()
  self.extract_since = t -- the summary counts an extract that never returned (an interruption) too
  local page, err, code, pcode = self.spec.source()
  self.extract_since = nil
  self.timings.extract = self.timings.extract + sys.monotonic() - t
  local paginated = math.type(page) == "integer"
  if paginated then
    page, err, code = err, code, pcode
  end
  if page == nil then
    if err ~= nil then
      self:fail("extract", err, code)
    end
    return nil
  end
  self.counts.pages = self.counts.pages + 1
  local records, rerr
  if paginated then
    records = page.items
  else
    records, rerr = self:records_of(page)
  end
  if not records then
    self:fail("extract", rerr, "INVALID")
  end
  return records
end

-- The summary of the run so far (failure: {kind, message, code, exit_code} or nil).
function Run:summary(failure)
  local c = self.counts
  if self.extract_since then
    self.timings.extract = self.timings.extract + sys.monotonic() - self.extract_since
    self.extract_since = nil
  end
  self.timings.total = sys.monotonic() - self.t0
  local tables = {}
  for _, s in ipairs(self.sinks) do
    if self.dry_run then
      tables[s.table] = { rows = self.would_load[s.table] or 0 }
    else
      tables[s.table] = self.loader.stats[s.table]
    end
  end
  return etl_summary.build({
    run_id = self.run_id, pipeline = self.name, dry_run = self.dry_run,
    started_at = self.started_at, finished_at = sys.time(),
    counts = { pages = c.pages, extracted = c.extracted, transformed = c.rows, loaded = c.loaded, skipped = c.skipped,
      rejected = self.rejects.count },
    tables = tables, timings = self.timings, committed = failure == nil and not self.dry_run,
    rejects_to = self.rejects:destination(), max_rejects = etl_rejects.describe_limit(self.rejects.limit),
    failure = failure,
  })
end

-- Writes --summary-json when asked (a failure to write is logged: the run's
-- outcome stands), hands s to the --metrics-file and keeps it for the
-- summary the host writes at the exit (etl_summary.write_final).
function Run:write_summary(s)
  metrics.record(s)
  etl_summary.record(s)
  if self.summary_json then
    local ok, err = etl_summary.write_json(self.summary_json, s)
    if not ok then
      self:log("error", err, { path = self.summary_json })
    end
  end
end

-- Cleans up after a failure of KIND: rolls back, flushes the rejects, logs
-- "pipeline failed" and writes the summary.
function Run:wind_up(kind, message, code)
  self.finished = true
  if self.loader then
    self.loader:abort()
  end
  local ok, err = self.rejects:close()
  if not ok then
    self:log("error", err)
  end
  self.progress:finish(self:progress_counts())
  local s = self:summary({ kind = kind, message = message, code = code, exit_code = se.exit_codes[kind] })
  local fields = etl_summary.log_fields(s)
  fields.status = "failed"
  self:log("error", "pipeline failed", fields)
  self:write_summary(s)
end

--- Ends the run as failed (see wind_up), then raises salesengine.fail(kind, message, code).
function Run:fail(kind, message, code)
  self:wind_up(kind, message, code)
  se.fail(kind, message, code)
end

-- Logs the stage lines, the dry run's samples and the summary line.
function Run:report(s)
  local t = s.timings
  self:log("info", "extracted", { records = s.extracted, seconds = t.extract_s })
  self:log("info", "transformed", { rows = self.counts.rows, skipped = s.skipped, seconds = t.transform_s })
  for _, sink in ipairs(self.sinks) do
    local st = s.tables[sink.table]
    if self.dry_run then
      self:log("info", "dry run: would load", { table = sink.table, rows = st.rows })
      for _, row in ipairs(self.samples[sink.table] or {}) do
        self:log("info", "dry run: sample row", { table = sink.table, row = cjson.encode(row) })
      end
    else
      self:log("info", "loaded", { table = sink.table, rows = st.rows, inserted = st.inserted,
        updated = st.updated, unchanged = st.unchanged, merged = st.merged, seconds = t.load_s })
      local repeats = self.loader.parent_repeats[sink.table]
      if repeats then
        self:log("warn", "a key repeats within one record's rows; they were merged into one row",
          { table = sink.table, records = repeats })
      end
    end
  end
  local fields = etl_summary.log_fields(s)
  self:log(s.identity_ok and "info" or "error", "pipeline complete", fields)
end

-- The whole run; returns the summary.
function Run:execute()
  if self.loader then -- the database is reached (and set up) before the extract starts
    local ok, err, code = self.loader:open()
    if not ok then
      self:fail("load", err, code)
    end
  end
  while true do
    local records = self:next_page()
    if records == nil then
      break
    end
    self:transform_page(records)
    self.progress:update(self:progress_counts())
  end
  local bug = self.bugs:finish()
  if bug then
    self:fail_script(bug)
  end
  self:flush()
  self:settle()
  if self.rejects:over_limit(self.counts.extracted) then
    self:fail_rejects()
  end
  if self.loader then
    local t = sys.monotonic()
    local ok, err, code = self.loader:finish()
    self.timings.load = self.timings.load + sys.monotonic() - t
    if not ok then
      self:fail("load", err, code)
    end
  end
  local ok, err, code = self.rejects:close()
  if not ok then
    self:fail("load", err, code)
  end
  self.finished = true
  self.progress:finish(self:progress_counts())
  local s = self:summary(nil)
  self:report(s)
  self:write_summary(s)
  return s
end

-- Runs the pipeline of a checked spec without `incremental` (M.run, and
-- salesengine.incremental for the window it prepared); returns the summary.
local function run_checked(spec)
  local made, run = pcall(new_run, spec)
  if not made then -- a mistake in spec: report it at the script's line
    error(option_check.misuse_message("run", 1, run), 2)
  end
  local ok, result = pcall(run.execute, run)
  if ok then
    return result
  end
  if not run.finished then
    -- an error in the script (transform, source), a fail() it raised, or an interruption
    local failure = se.is_failure(result)
    run:wind_up(failure and result.kind or "script", failure and result.message or tostring(result),
      failure and result.code or nil)
  end
  error(result, 0)
end

-- Under --partition I/N (salesengine.partition), ends the run as a usage
-- error unless its source reads only its share (an incremental pipeline
-- keeps only its time slots' records: salesengine.incremental): a source
-- that does not split would load all the records in each of the N processes.
local function check_partition(spec)
  local part = partition.current()
  if part == nil then
    return
  end
  local what = "--partition " .. partition.label(part)
  if spec.incremental == nil and not partition.splits(spec.source) then
    se.fail("usage", string.format("%s: the source of '%s' cannot be split; only paginate.page_number sources " ..
      "(pages p with (p-1) %% N = I) and incremental pipelines with a timestamp cursor (time slots) split: " ..
      "page the source, or run it without --partition (docs/scale-out.md)", what, tostring(spec.name)))
  end
  log.info("partition", { pipeline = spec.name, partition = partition.label(part) })
end

--- Runs a pipeline (see the header and docs/lua-api.md); returns the summary table.
-- Expected failures end the run via salesengine.fail (exit codes extract 3,
-- load 4, rejects 5) after rolling back, writing the rejects and the summary.
function M.run(spec)
  if type(spec) ~= "table" then
    error("bad argument #1 to 'run' (table expected, got " .. (spec == nil and "no value" or type(spec)) .. ")", 2)
  end
  check_names(spec)
  check_partition(spec)
  if spec.incremental ~= nil then
    -- state, lock and cursor around the run: docs/lua-api.md
    return require("salesengine.incremental").run(spec, run_checked)
  end
  if sys.options().since ~= nil then
    se.fail("usage", "--since starts the window of an incremental pipeline; '" .. tostring(spec.name) ..
      "' has no 'incremental'")
  end
  return run_checked(spec)
end

return M
