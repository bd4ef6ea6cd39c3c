--- salesengine.etl_load: the load stage of salesengine.etl.
-- Upserts batches of transformed records into one or more tables inside a
-- transaction (one per run, or one per batch). Each batch runs under a
-- SAVEPOINT; when PostgreSQL refuses it for a data or constraint error
-- (see isolatable) the batch is split in halves, recursively, until
-- the refused record is alone: it is handed to on_refused and the rest loads.
local pg_setup = require "salesengine.pg_setup"

local M = {}

local SAVEPOINT = "salesengine_etl_batch"

--- True for errors that one record's values can cause: worth isolating
-- instead of failing the run. Data exceptions (class 22), integrity constraint
-- violations (23), a value too large for an index row (54000), and INVALID: a
-- value the binding cannot send at all (a NUL byte in text).
function M.isolatable(code)
  if type(code) ~= "string" then
    return false
  end
  local class = code:sub(1, 2)
  return class == "22" or class == "23" or code == "54000" or code == "INVALID"
end

--- The rows of entry for the sink named name: entry.row (one sink) or entry.rows[name].
function M.rows_for(entry, name)
  if entry.rows == nil then
    return { entry.row }
  end
  return entry.rows[name]
end

local Loader = {}
Loader.__index = Loader

--- A loader. opts: name (the pipeline's), connect (function() -> conn | nil, message,
-- code), setup (SQL run once after BEGIN under the pipeline's set-up lock, see
-- salesengine.pg_setup, or nil), sinks (list of {name, table, upsert options,
-- timeouts}; the timeouts apply to every load transaction),
-- commit ("run" or "batch"), on_refused(entry, message, code, table),
-- on_loaded(records) after each batch is in (the records that loaded, in
-- order: bisection loads the left half first),
-- before_commit(conn) -> true | nil, message, code, run inside the
-- transaction right before each COMMIT (e.g. to save state with the data).
function M.new(opts)
  local stats = {}
  for _, s in ipairs(opts.sinks) do
    stats[s.table] = stats[s.table] or { rows = 0, inserted = 0, updated = 0, unchanged = 0 }
  end
  local commit = opts.commit or "run"
  -- One transaction, one table, no per-batch hook: a batch's merge can run on
  -- the server while the next batch is extracted and transformed (see start).
  local overlap = commit == "run" and #opts.sinks == 1 and opts.on_loaded == nil
  local deferred_options
  if overlap then
    deferred_options = { defer = true }
    for k, v in pairs(opts.sinks[1].options) do
      deferred_options[k] = v
    end
  end
  return setmetatable({
    connect = opts.connect, setup = opts.setup, sinks = opts.sinks, commit = commit,
    name = opts.name, timeouts = pg_setup.sink_timeouts(opts.sinks),
    on_refused = opts.on_refused, on_loaded = opts.on_loaded, before_commit = opts.before_commit,
    stats = stats, loaded = 0, conn = nil, in_tx = false, batch_records = nil,
    overlap = overlap, deferred_options = deferred_options, deferred = nil,
  }, Loader)
end

-- Runs sql on the connection; returns true or nil, message, code.
function Loader:exec(sql)
  local ok, err, code = self.conn:exec(sql)
  if not ok then
    return nil, err, code
  end
  return true
end

-- Starts a transaction (running the setup SQL in the first one).
function Loader:begin()
  local ok, err, code = self:exec("BEGIN")
  if not ok then
    return nil, err, code
  end
  self.in_tx = true
  ok, err, code = pg_setup.apply_timeouts(self.conn, self.timeouts)
  if not ok then
    return nil, err, code
  end
  if self.setup then
    ok, err, code = pg_setup.lock(self.conn, self.name)
    if ok then
      ok, err, code = self:exec(self.setup)
    end
    if not ok then
      return nil, "setup SQL failed: " .. tostring(err), code
    end
    self.setup = nil
  end
  return true
end

--- Connects and begins the first transaction (idempotent). Returns true or nil, message, code.
function Loader:open()
  if self.conn then
    return true
  end
  local conn, err, code = self.connect()
  if not conn then
    return nil, err, code
  end
  self.conn = conn
  return self:begin()
end

-- The rows of entries for sink, in order.
local function sink_rows(sink, entries)
  local rows = {}
  for _, e in ipairs(entries) do
    if e.rows == nil then
      rows[#rows + 1] = e.row
    else
      for _, row in ipairs(e.rows[sink.name]) do
        rows[#rows + 1] = row
      end
    end
  end
  return rows
end

-- Adds a loaded batch to the statistics: counts is a list of {table, rows, upsert stats}.
function Loader:account(counts, entries)
  for _, c in ipairs(counts) do
    local s = self.stats[c[1]]
    s.rows = s.rows + c[2]
    s.inserted = s.inserted + (c[3].inserted or 0)
    s.updated = s.updated + (c[3].updated or 0)
    s.unchanged = s.unchanged + (c[3].unchanged or 0)
  end
  self.loaded = self.loaded + #entries
  if self.on_loaded then
    for _, e in ipairs(entries) do
      self.batch_records[#self.batch_records + 1] = e
    end
  end
end

-- Upserts every sink's rows of entries under a savepoint. Returns true, or
-- false/nil, message, code, table (the savepoint rolled back).
function Loader:attempt(entries)
  local ok, err, code = self:exec("SAVEPOINT " .. SAVEPOINT)
  if not ok then
    return nil, err, code
  end
  local counts = {}
  for _, sink in ipairs(self.sinks) do
    local rows = sink_rows(sink, entries)
    if #rows > 0 then
      sink.options.first_row = self.stats[sink.table].rows + 1 -- messages count rows from the run's first
      local st, uerr, ucode = self.conn:upsert(sink.table, rows, sink.options)
      if not st then
        -- When the connection is gone the savepoint cannot be rolled back
        -- either; the upsert's error says why, so that is the one reported.
        self:exec("ROLLBACK TO SAVEPOINT " .. SAVEPOINT)
        return nil, uerr, ucode, sink.table
      end
      counts[#counts + 1] = { sink.table, #rows, st }
    end
  end
  ok, err, code = self:exec("RELEASE SAVEPOINT " .. SAVEPOINT)
  if not ok then
    return nil, err, code
  end
  self:account(counts, entries)
  return true
end

-- Overlapped loading: starts loading entries (one sink) under a savepoint
-- with a deferred upsert — a thread COPYs the rows and the merge runs on the
-- server while the caller goes on — to be finished by settle(). rows: the
-- sink's rows of entries; held: those rows already encoded by the previous
-- batch's handle:next() (or held = nil, herr, hcode: what encoding them
-- refused). Returns true, or nil, message, code for a fatal error.
function Loader:start(entries, rows, held, herr, hcode)
  local ok, err, code = self:exec("SAVEPOINT " .. SAVEPOINT)
  if not ok then
    if held then
      held:close()
    end
    return nil, err, code
  end
  local sink = self.sinks[1]
  local handle, uerr, ucode
  if held then
    handle, uerr, ucode = held:start()
  elseif herr then
    handle, uerr, ucode = nil, herr, hcode
  else
    self.deferred_options.first_row = self.stats[sink.table].rows + 1 -- rows counted from the run's first
    handle, uerr, ucode = self.conn:upsert(sink.table, rows, self.deferred_options)
  end
  if not handle then
    self:exec("ROLLBACK TO SAVEPOINT " .. SAVEPOINT)
    return self:split(entries, 1, #entries, uerr, ucode, sink.table)
  end
  self.deferred = { handle = handle, entries = entries, rows = #rows }
  return true
end

--- Finishes the batch start() left running (if any): its statistics, or the
-- isolation of its refused records. Returns true or nil, message, code.
function Loader:settle()
  local d = self.deferred
  if d == nil then
    return true
  end
  self.deferred = nil
  local tbl = self.sinks[1].table
  local st, err, code = d.handle:wait()
  if not st then
    self:exec("ROLLBACK TO SAVEPOINT " .. SAVEPOINT)
    return self:split(d.entries, 1, #d.entries, err, code, tbl)
  end
  local ok, rerr, rcode = self:exec("RELEASE SAVEPOINT " .. SAVEPOINT)
  if not ok then
    return nil, rerr, rcode
  end
  self:account({ { tbl, d.rows, st } }, d.entries)
  return true
end

-- Runs the before_commit hook, then COMMIT. Returns true or nil, message, code.
function Loader:commit_now()
  if self.before_commit then
    local ok, err, code = self.before_commit(self.conn)
    if not ok then
      return nil, "before_commit: " .. tostring(err), code
    end
  end
  local ok, err, code = self:exec("COMMIT")
  self.in_tx = false
  return ok, err, code
end

-- Loads entries[first..last], isolating refused records by bisection.
function Loader:load_range(entries, first, last)
  local part = table.move(entries, first, last, 1, {})
  local ok, err, code, tbl = self:attempt(part)
  if ok then
    return true
  end
  return self:split(entries, first, last, err, code, tbl)
end

-- After entries[first..last] failed together with err, code (at table tbl):
-- fails the load unless the error is one a record can cause; then loads the
-- halves apart until the refused record is alone and goes to on_refused.
function Loader:split(entries, first, last, err, code, tbl)
  if not M.isolatable(code) or tbl == nil then
    return nil, err, code
  end
  if first == last then
    self.on_refused(entries[first], err, code, tbl)
    return true
  end
  local mid = (first + last) // 2
  local ok
  ok, err, code = self:load_range(entries, first, mid)
  if not ok then
    return nil, err, code
  end
  return self:load_range(entries, mid + 1, last)
end

--- Loads a batch: entries is a list of {index, record, row = the row} (one
-- sink) or {index, record, rows = {sink name -> list of rows}} (several).
-- Returns true (refused records went to on_refused) or nil, message, code for a fatal error.
function Loader:load(entries)
  local ok, err, code = self:open()
  if not ok then
    return nil, err, code
  end
  if self.overlap then
    -- The next rows are encoded (handle:next) while the previous batch still
    -- loads, so that the server has its next batch as soon as it is free.
    local rows = #entries > 0 and sink_rows(self.sinks[1], entries) or {}
    local held, herr, hcode
    if self.deferred and #rows > 0 and self.deferred_options.columns then
      held, herr, hcode = self.deferred.handle:next(rows)
    end
    ok, err, code = self:settle()
    if ok and #entries > 0 then
      ok, err, code = self:start(entries, rows, held, herr, hcode)
    elseif held then
      held:close()
    end
    return ok, err, code
  end
  self.batch_records = {}
  if #entries > 0 then
    ok, err, code = self:load_range(entries, 1, #entries)
    if not ok then
      return nil, err, code
    end
  end
  if self.on_loaded then
    local records = {}
    for i, e in ipairs(self.batch_records) do
      records[i] = e.record
    end
    self.on_loaded(records)
  end
  if self.commit == "batch" then
    ok, err, code = self:commit_now()
    if not ok then
      return nil, err, code
    end
    return self:begin()
  end
  return true
end

--- Commits the open transaction and closes the connection. Returns true or
-- nil, message, code (then the transaction is still open: call abort).
function Loader:finish()
  if not self.conn then
    return true
  end
  local settled, serr, scode = self:settle()
  if not settled then
    return nil, serr, scode
  end
  if self.in_tx then
    local ok, err, code = self:commit_now()
    if not ok then
      return nil, err, code -- abort() rolls back and closes
    end
  end
  self.conn:close()
  self.conn = nil
  return true
end

--- Rolls back the open transaction (if any) and closes the connection.
function Loader:abort()
  if not self.conn then
    return
  end
  if self.deferred then
    self.deferred.handle:close()
    self.deferred = nil
  end
  if self.in_tx then
    -- An interruption between a deferred upsert's start and its settle() can
    -- leave the connection busy, and exec refuses it: closing the connection
    -- rolls the transaction back all the same.
    pcall(self.conn.exec, self.conn, "ROLLBACK")
    self.in_tx = false
  end
  self.conn:close()
  self.conn = nil
end

return M
