--- salesengine.etl_load: the load stage of salesengine.etl.
-- Upserts batches of transformed records into one or more tables inside a
-- transaction (one per run, or one per batch). One table: the rows go to an
-- upsert writer (conn:upsert_writer), which loads batches on the server while
-- the next ones are transformed and isolates a refused row itself. Several
-- tables: each batch runs under a SAVEPOINT; when PostgreSQL refuses it for a
-- data or constraint error (see isolatable) the batch is split in halves,
-- recursively, until the refused record is alone. Either way the refused
-- record is handed to on_refused and the rest loads.
local json = require "salesengine.json"
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

--- An empty batch of transformed records, kept as parallel lists so that a
-- record costs the runner no table of its own (docs/performance.md):
-- index[i] is record i's number in the run, record[i] the record, out[i]
-- its row when one_sink, else {sink name -> list of rows}; n the count.
function M.batch(one_sink)
  return { n = 0, index = {}, record = {}, out = {}, one_sink = one_sink }
end

--- The rows of record i of batch b for the sink named name.
function M.rows_for(b, i, name)
  if b.one_sink then
    return { b.out[i] }
  end
  return b.out[i][name]
end

-- The records of batch b as a list of entries {index, record, row | rows}
-- (the loader's path for several tables bisects such a list).
local function entries_of(b)
  local entries = {}
  for i = 1, b.n do
    local e = { index = b.index[i], record = b.record[i] }
    if b.one_sink then
      e.row = b.out[i]
    else
      e.rows = b.out[i]
    end
    entries[i] = e
  end
  return entries
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
    stats[s.table] = stats[s.table] or { rows = 0, inserted = 0, updated = 0, unchanged = 0, merged = 0 }
  end
  return setmetatable({
    connect = opts.connect, setup = opts.setup, sinks = opts.sinks, commit = opts.commit or "run",
    name = opts.name, timeouts = pg_setup.sink_timeouts(opts.sinks),
    on_refused = opts.on_refused, on_loaded = opts.on_loaded, before_commit = opts.before_commit,
    stats = stats, loaded = 0, conn = nil, in_tx = false, batch_records = nil,
    use_writer = #opts.sinks == 1, writer = nil, refused = {},
    written = 0, refused_rows = 0, parent_repeats = {}, settled_base = 0, writes = {}, writes_head = 1, writes_tail = 0,
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

-- A record PostgreSQL refused (one of its rows, through the writer): to
-- on_refused once, and no longer counted as loaded.
function Loader:refuse(entry, message, code, tbl)
  self.refused_rows = self.refused_rows + 1
  if self.refused[entry.index] then
    return
  end
  self.refused[entry.index] = true
  self.loaded = self.loaded - 1
  self.on_refused(entry, message, code, tbl)
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

-- The rows of batch b for the writer's sink, in order, and their owners:
-- row r is of record owners.index[r] (its index in the run), which is
-- owners.record[r]; or, for a record of http.records, owners.record[r] is
-- its batch and owners.at[r] its place there (json.locate_all). So the records'
-- tables can go once their rows are encoded: holding thousands of them until
-- the server has judged their rows cost the collector more than the rest of
-- the runner (docs/performance.md). owner() builds a refused one again.
local function writer_rows(sink, b)
  local boxes, places = json.locate_all(b.record, b.n)
  if b.one_sink then -- row i is record i's, and index is the batch's own
    return b.out, { index = b.index, record = boxes, at = places }
  end
  local rows, index, record, at = {}, {}, {}, {} -- a record has a list of rows (maybe none) for the sink
  for i = 1, b.n do
    local list = b.out[i][sink.name]
    local first = #rows + 1
    table.move(list, 1, #list, first, rows)
    for r = first, #rows do
      index[r], record[r], at[r] = b.index[i], boxes[i], places[i]
    end
  end
  return rows, { index = index, record = record, at = at }
end

-- The entry (index and record, built again from its bytes when needed) of row i of a write's owners.
local function owner(owners, i)
  local record, at = owners.record[i], owners.at[i]
  if at then
    record = json.rebuild(record, at)
  end
  return { index = owners.index[i], record = record }
end

-- The upsert writer of the one sink, opened on first use (after the table's
-- columns may have changed: see release). Returns it or nil, message, code.
function Loader:writer_now()
  if self.writer then
    return self.writer
  end
  local sink = self.sinks[1]
  local options = {}
  for k, v in pairs(sink.options) do
    options[k] = v
  end
  options.first_row = self.written + 1
  options.copy_new_keys = sink.copy_new_keys -- nil: the writer's default
  options.copy_binary = sink.copy_binary
  options.on_refused = function(owners, i, message, refused_code)
    self:refuse(owner(owners, i), message, refused_code, sink.table)
  end
  local w, err, code = self.conn:upsert_writer(sink.table, options)
  if not w then
    return nil, err, code
  end
  self.writer = w
  return w
end

--- Loads what the writer holds and closes it, so that the connection is
-- free and the next rows are planned against the table as it is then (a
-- column added by sink.evolve). Returns true or nil, message, code.
function Loader:release()
  if self.writer == nil then
    return true
  end
  local st, err, code = self.writer:finish()
  self:count_settled(st and self.written)
  if not st then
    return nil, err, code
  end
  self.writer = nil
  self.settled_base = self.written
  local stats = self.stats[self.sinks[1].table]
  for _, k in ipairs({ "inserted", "updated", "unchanged", "merged" }) do
    stats[k] = stats[k] + st[k]
  end
  return true
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
    -- the rows of a batch beyond its distinct keys were merged into an earlier row
    s.merged = s.merged + c[2] - (c[3].inserted or 0) - (c[3].updated or 0) - (c[3].unchanged or 0)
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

--- Waits until every row written is in the table or refused (refused
-- records reach on_refused). Returns true or nil, message, code.
function Loader:settle()
  if self.writer == nil then
    return true
  end
  local ok, err, code = self.writer:flush()
  self:count_settled()
  return ok, err, code
end

-- Counts as loaded the records of the writes whose rows are all settled
-- (refused records are taken off as they are refused); settled: the rows
-- settled so far, when known (else the writer's count).
function Loader:count_settled(settled)
  settled = settled or self.settled_base + self.writer:settled()
  local w = self.writes[self.writes_head]
  while w and w[1] <= settled do
    self.loaded = self.loaded + w[2]
    self.writes[self.writes_head] = nil
    self.writes_head = self.writes_head + 1
    w = self.writes[self.writes_head]
  end
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

-- Hands batch b's rows to the writer; with a per-batch hook or commit, waits
-- until they are in. Returns true or nil, message, code.
function Loader:write(b)
  local w, err, code = self:writer_now()
  if not w then
    return nil, err, code
  end
  local rows, owners = writer_rows(self.sinks[1], b)
  self.written = self.written + #rows
  self.writes_tail = self.writes_tail + 1
  self.writes[self.writes_tail] = { self.written, b.n }
  local ok
  ok, err, code = w:write(rows, owners)
  self:count_settled()
  if not ok then
    return nil, err, code
  end
  if self.on_loaded == nil and self.commit ~= "batch" then
    return true
  end
  ok, err, code = self:settle()
  if not ok then
    return nil, err, code
  end
  if self.on_loaded then
    local records = {}
    for i = 1, b.n do
      if not self.refused[b.index[i]] then
        records[#records + 1] = b.record[i]
      end
    end
    self.on_loaded(records)
  end
  return true
end

-- The key text of row for a sink's key option (a name or a list of names).
local function key_text(row, key)
  if type(key) ~= "table" then
    return tostring(row[key])
  end
  local parts = {}
  for i, c in ipairs(key) do
    parts[i] = tostring(row[c])
  end
  return table.concat(parts, "\0")
end

-- Counts, per table, the records whose own rows repeat a key (a child's key
-- repeated within one parent: merged into one row, which the run warns about).
function Loader:note_repeats_in_parents(entries)
  for _, e in ipairs(entries) do
    for _, sink in ipairs(self.sinks) do
      local rows = e.rows and e.rows[sink.name]
      if rows and #rows > 1 then
        local seen = {}
        for _, row in ipairs(rows) do
          local k = key_text(row, sink.options.key)
          if seen[k] then
            self.parent_repeats[sink.table] = (self.parent_repeats[sink.table] or 0) + 1
            break
          end
          seen[k] = true
        end
      end
    end
  end
end

-- Loads entries under savepoints (several tables), isolating refused records.
function Loader:load_batch(entries)
  self:note_repeats_in_parents(entries)
  self.batch_records = {}
  if #entries > 0 then
    local ok, err, code = self:load_range(entries, 1, #entries)
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
  return true
end

--- Loads batch b (M.batch). Returns true (refused records went to
-- on_refused) or nil, message, code for a fatal error.
function Loader:load(b)
  local ok, err, code = self:open()
  if not ok then
    return nil, err, code
  end
  if self.use_writer then
    ok, err, code = self:write(b)
  else
    ok, err, code = self:load_batch(entries_of(b))
  end
  if not ok then
    return nil, err, code
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
  if self.use_writer then
    local ok, err, code = self:release()
    if not ok then
      return nil, err, code
    end
    self.stats[self.sinks[1].table].rows = self.written - self.refused_rows
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
  if self.writer then
    self.writer:close() -- waits for a batch still loading
    self.writer = nil
  end
  if self.in_tx then
    -- After a failure exec may refuse the connection: closing it rolls the
    -- transaction back all the same.
    pcall(self.conn.exec, self.conn, "ROLLBACK")
    self.in_tx = false
  end
  self.conn:close()
  self.conn = nil
end

return M
