--- salesengine.etl_rejects: the dead-letter side of salesengine.etl.
-- Collects rejected records (reason, field, key, raw JSON, run id, time),
-- writes them to a table (default etl_rejects, created if missing, committed
-- on a connection of its own so they survive a rolled-back load) or to a JSON
-- Lines file, and enforces max_rejects.
local cjson = require "cjson"
local json = require "salesengine.json"
local pg_setup = require "salesengine.pg_setup"

local M = {}

local FLUSH_EVERY = 500 -- buffered rejects written at once

--- The dead-letter table's definition; %s is the quoted table name.
M.TABLE_SQL = [[
CREATE TABLE IF NOT EXISTS %s (
    run_id      text        NOT NULL,
    seq         integer     NOT NULL,
    pipeline    text        NOT NULL,
    stage       text        NOT NULL,
    reason      text        NOT NULL,
    field       text,
    record_key  text,
    code        text,
    raw         text        NOT NULL,
    rejected_at timestamptz NOT NULL,
    committed   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, seq)
);
ALTER TABLE %s ADD COLUMN IF NOT EXISTS committed boolean NOT NULL DEFAULT false]]

local COLUMNS = { "run_id", "seq", "pipeline", "stage", "reason", "field", "record_key", "code", "raw",
  "rejected_at" }

-- Double-quotes each part of a possibly schema-qualified name.
local function quote_name(name)
  local parts = {}
  for part in tostring(name):gmatch("[^.]+") do
    parts[#parts + 1] = '"' .. part:gsub('"', '""') .. '"'
  end
  return table.concat(parts, ".")
end

--- s with every byte that is not part of valid UTF-8, and every NUL, replaced
-- by U+FFFD: the dead-letter text must be storable in PostgreSQL text and
-- readable by strict JSON readers even when the record that caused it is not.
-- Non-strings pass through.
function M.clean_text(s)
  if type(s) ~= "string" then
    return s
  end
  local out, i = {}, 1
  while true do
    local n, bad = utf8.len(s, i)
    if n then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return (table.concat(out):gsub("%z", "\u{FFFD}"))
end

--- The raw record as JSON text (a JSON string of its rendering when it cannot be encoded).
function M.raw_json(record)
  local ok, text = pcall(cjson.encode, json.full(record)) -- every member, also of a record read in part
  if ok then
    return text
  end
  return cjson.encode(tostring(record))
end

--- The default max_rejects: a run goes on past a few bad records, but not
-- when more than 1 in 100 is bad (a broken feed or transform).
M.DEFAULT_LIMIT = "1%"

--- Parses max_rejects: nil (DEFAULT_LIMIT), a count (integer >= 0), a fraction
-- (0 <= x < 1) or a percentage string ("1%"). Returns {count = n} or
-- {fraction = x}; raises on anything else (a programmer mistake).
function M.parse_limit(v)
  if v == nil then
    v = M.DEFAULT_LIMIT
  end
  if type(v) == "string" then
    local pct = tonumber(v:match("^%s*([%d.]+)%s*%%%s*$"))
    if pct and pct >= 0 and pct <= 100 then
      return { fraction = pct / 100, text = v }
    end
    v = tonumber(v) or v
  end
  if math.type(v) == "integer" and v >= 0 then
    return { count = v }
  elseif math.type(v) == "float" and v >= 0 and v < 1 then
    return { fraction = v }
  elseif math.type(v) == "float" and v >= 1 and v == math.floor(v) then
    return { count = math.tointeger(v) }
  end
  error("option 'max_rejects': a count (integer >= 0), a fraction (0 <= x < 1) or a percentage such as \"1%\" "
    .. "expected, got " .. tostring(v), 3)
end

--- Describes a parsed limit for messages: "10", "1%".
function M.describe_limit(limit)
  if limit.count then
    return tostring(limit.count)
  end
  return limit.text or (string.format("%g", limit.fraction * 100) .. "%")
end

local Rejects = {}
Rejects.__index = Rejects

--- A reject collector. opts: run_id, pipeline, limit (from parse_limit),
-- dest ({table = name, connect = function() -> conn | nil, msg, code} or
-- {file = path} or {} for none), dry_run (no database writes), now (function
-- returning an ISO-8601 UTC time), on_reject (called with each reject).
function M.new(opts)
  return setmetatable({
    run_id = opts.run_id,
    pipeline = opts.pipeline,
    limit = opts.limit,
    dest = opts.dest or {},
    dry_run = opts.dry_run,
    now = opts.now,
    on_reject = opts.on_reject,
    count = 0,
    first = nil,
    pending = {},
  }, Rejects)
end

--- Records one reject: r = {stage, index, key, reason, field, code, record}.
-- Returns true, or nil, message, code when the dead-letter write failed.
function Rejects:add(r)
  self.count = self.count + 1
  local entry = {
    run_id = self.run_id,
    seq = self.count,
    pipeline = self.pipeline,
    stage = r.stage,
    reason = M.clean_text(r.reason),
    field = M.clean_text(r.field),
    record_key = M.clean_text(r.key),
    code = M.clean_text(r.code),
    raw = M.clean_text(M.raw_json(r.record)),
    rejected_at = self.now(),
    index = r.index,
  }
  if self.first == nil then
    self.first = entry
  end
  if self.on_reject then
    self.on_reject(entry)
  end
  self.pending[#self.pending + 1] = entry
  if #self.pending >= FLUSH_EVERY then
    return self:flush()
  end
  return true
end

--- True when the count limit is already exceeded (checked as rejects come).
function Rejects:over_count()
  return self.limit.count ~= nil and self.count > self.limit.count
end

--- True when the limit is exceeded for a run that extracted `extracted` records.
function Rejects:over_limit(extracted)
  if self.limit.count then
    return self.count > self.limit.count
  end
  return extracted > 0 and self.count / extracted > self.limit.fraction
end

--- Where rejects go, for logs and the summary: a table name, a file, or "none".
function Rejects:destination()
  if self.dest.file then
    return self.dest.file
  elseif self.dest.table and not self.dry_run then
    return self.dest.table
  end
  return "none"
end

-- Appends entries to the JSON Lines file (raw embedded as a JSON value).
local function write_file(path, entries)
  local private, perr = require("salesengine.guard").private_file(path) -- raw records: owner only (0600)
  if not private then
    return nil, "cannot open the rejects file: " .. tostring(perr), "IO"
  end
  local f, err = io.open(path, "a")
  if not f then
    return nil, "cannot open the rejects file: " .. tostring(err), "IO"
  end
  for _, e in ipairs(entries) do
    local meta = cjson.encode({
      run_id = e.run_id, seq = e.seq, pipeline = e.pipeline, stage = e.stage, reason = e.reason,
      field = e.field, record_key = e.record_key, code = e.code, rejected_at = e.rejected_at,
    })
    f:write(meta:sub(1, -2), ',"raw":', e.raw, "}\n")
  end
  local ok, werr = f:close()
  if not ok then
    return nil, "cannot write the rejects file: " .. tostring(werr), "IO"
  end
  return true
end

-- Upserts entries into the dead-letter table on the collector's own connection.
function Rejects:write_table(entries)
  if not self.conn then
    local conn, err, code = self.dest.connect()
    if not conn then
      return nil, "cannot write rejects: " .. tostring(err), code
    end
    local name = quote_name(self.dest.table)
    local ok, cerr, ccode = pg_setup.run(conn, string.format(M.TABLE_SQL, name, name))
    if not ok then
      conn:close()
      return nil, "cannot create the rejects table: " .. tostring(cerr), ccode
    end
    self.conn = conn
  end
  local rows = {}
  for i, e in ipairs(entries) do
    rows[i] = { run_id = e.run_id, seq = e.seq, pipeline = e.pipeline, stage = e.stage, reason = e.reason,
      field = e.field, record_key = e.record_key, code = e.code, raw = e.raw, rejected_at = e.rejected_at }
  end
  local ok, err, code = self.conn:upsert(self.dest.table, rows, { key = { "run_id", "seq" }, columns = COLUMNS })
  if not ok then
    return nil, "cannot write rejects to " .. self.dest.table .. ": " .. tostring(err), code
  end
  return true
end

--- In the load transaction on conn, right before it commits: marks this run's
-- rejects in the dead-letter table committed, and (once per run) deletes the
-- uncommitted rejects that runs of the same pipeline which started earlier
-- left behind (they failed or were killed; their records are read again by a
-- later run, which rejects them again if they are still bad). started_at: this
-- run's start as ISO-8601 UTC. A table that does not exist yet (or has no
-- committed column) is left alone. Returns true or nil, message, code.
function Rejects:mark_committed(conn, started_at)
  if not self.dest.table or self.dry_run then
    return true
  end
  local name = quote_name(self.dest.table)
  local found, err, code = conn:query("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) " ..
    "AND attname = 'committed' AND NOT attisdropped", name)
  if not found then
    return nil, err, code
  end
  if #found == 0 then
    return true
  end
  local ok
  ok, err, code = conn:exec("UPDATE " .. name .. " SET committed = true WHERE run_id = $1 AND NOT committed",
    self.run_id)
  if ok and not self.purged then
    ok, err, code = conn:exec("DELETE FROM " .. name .. " WHERE pipeline = $1 AND run_id <> $2 AND NOT committed " ..
      "AND rejected_at < $3::timestamptz", self.pipeline, self.run_id, started_at)
    self.purged = ok and true
  end
  if not ok then
    return nil, "cannot mark the rejects of the run committed: " .. tostring(err), code
  end
  return true
end

--- Writes the buffered rejects to the destination. Returns true, or nil, message, code.
function Rejects:flush()
  local entries = self.pending
  if #entries == 0 then
    return true
  end
  self.pending = {}
  if self.dest.file then
    return write_file(self.dest.file, entries)
  elseif self.dest.table and not self.dry_run then
    return self:write_table(entries)
  end
  return true
end

--- Flushes and closes the dead-letter connection. Returns like flush().
function Rejects:close()
  local ok, err, code = self:flush()
  if self.conn then
    self.conn:close()
    self.conn = nil
  end
  return ok, err, code
end

return M
