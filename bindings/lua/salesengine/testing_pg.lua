--- salesengine.testing_pg: an in-memory stand-in for salesengine.pg, for
-- offline tests (used through salesengine.testing.fake_pg).
--
-- It is a module table with connect(dsn) like the real one. Tables spring
-- into existence on first upsert; upsert keeps the real semantics that tests
-- care about (key columns, composite keys, the last duplicate in a batch
-- wins, inserted/updated/unchanged counts, `update`, `set`, `columns`,
-- `skip_unchanged`). Transactions and savepoints are real: a rollback undoes
-- the rows, and after an error the transaction refuses everything but a
-- rollback (SQLSTATE 25P02), as PostgreSQL does. Other SQL passed to exec is
-- recorded, not interpreted.
local M = {}

local ABORTED = "current transaction is aborted, commands ignored until end of transaction block"

local Db = {}
Db.__index = Db

--- A fake database and pg module. Fields for assertions: statements (every
-- exec'd SQL, in order), upserts (count of upsert calls), connects, writes
-- (upserts that changed something plus exec'd statements other than
-- transaction control: 0 proves nothing was written).
function M.new()
  local db = setmetatable({
    tables = {}, statements = {}, upserts = 0, connects = 0, writes = 0, open_conns = 0,
    faults = {}, refusers = {},
  }, Db)
  db.connect = function(dsn) return db:open(dsn) end
  return db
end

--- The next n connects fail with message and code (default "08006").
function Db:fail_connect(message, code, n)
  self.faults.connect = { message = message or "could not connect to server", code = code or "08006", n = n or 1e9 }
end

--- The next n upserts (into tbl, or any table when tbl is nil) fail with message and code.
function Db:fail_upsert(tbl, message, code, n)
  self.faults.upsert = { table = tbl, message = message or "server closed the connection unexpectedly",
    code = code or "08006", n = n or 1e9 }
end

--- fn(table, row) -> message, code when PostgreSQL would refuse that row (e.g. a
-- value out of range, "22003"); a batch containing it fails as a whole.
function Db:refuse(fn)
  self.refusers[#self.refusers + 1] = fn
end

--- The committed-or-current rows of tbl, in first-insert order (copies).
function Db:rows(tbl)
  local t = self.tables[tbl]
  local out = {}
  for _, k in ipairs(t and t.order or {}) do
    if t.rows[k] then
      local copy = {}
      for c, v in pairs(t.rows[k]) do
        copy[c] = v
      end
      out[#out + 1] = copy
    end
  end
  return out
end

--- The row of tbl whose key columns equal key (a value, or a list for composite keys).
function Db:row(tbl, key_columns, key)
  for _, r in ipairs(self:rows(tbl)) do
    local match = true
    local keys = type(key) == "table" and key or { key }
    for i, c in ipairs(key_columns) do
      if tostring(r[c]) ~= tostring(keys[i]) then
        match = false
      end
    end
    if match then
      return r
    end
  end
  return nil
end

-- Consumes one fault of kind; returns it when it applies.
function Db:take_fault(kind, tbl)
  local f = self.faults[kind]
  if f == nil or f.n <= 0 or (f.table and f.table ~= tbl) then
    return nil
  end
  f.n = f.n - 1
  return f
end

local Conn = {}
Conn.__index = Conn

function Db:open()
  self.connects = self.connects + 1
  local f = self:take_fault("connect")
  if f then
    return nil, f.message, f.code
  end
  self.open_conns = self.open_conns + 1
  return setmetatable({ db = self, undo = nil, savepoints = {}, aborted = false, closed = false }, Conn)
end

local function check_open(c)
  if c.closed then
    error("attempt to use a closed connection", 3)
  end
end

-- Records a change for rollback when a transaction is open.
local function remember(c, t, key)
  if c.undo then
    c.undo[#c.undo + 1] = { t = t, key = key, old = t.rows[key] }
  end
end

-- Undoes changes back to undo-log length n.
local function undo_to(c, n)
  for i = #c.undo, n + 1, -1 do
    local u = c.undo[i]
    u.t.rows[u.key] = u.old
    c.undo[i] = nil
  end
end

--- exec(sql): transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT x,
-- RELEASE SAVEPOINT x, ROLLBACK TO SAVEPOINT x) is honoured; anything else is recorded.
function Conn:exec(sql)
  check_open(self)
  local db = self.db
  db.statements[#db.statements + 1] = sql
  local s = sql:upper():gsub("^%s+", ""):gsub("[%s;]+$", "")
  local sp = s:match("^ROLLBACK TO SAVEPOINT%s+(%S+)$") or s:match("^ROLLBACK TO%s+(%S+)$")
  if sp then
    for i = #self.savepoints, 1, -1 do
      if self.savepoints[i].name == sp then
        undo_to(self, self.savepoints[i].mark)
        for j = #self.savepoints, i + 1, -1 do
          self.savepoints[j] = nil
        end
        self.aborted = false
        return true
      end
    end
    return nil, "savepoint \"" .. sp:lower() .. "\" does not exist", "3B001"
  elseif s == "ROLLBACK" then
    if self.undo then
      undo_to(self, 0)
    end
    self.undo, self.savepoints, self.aborted = nil, {}, false
    return true
  elseif self.aborted then
    return nil, ABORTED, "25P02"
  elseif s == "BEGIN" then
    self.undo = {}
  elseif s == "COMMIT" then
    self.undo, self.savepoints = nil, {}
  elseif s:match("^SAVEPOINT%s") then
    self.savepoints[#self.savepoints + 1] = { name = s:match("^SAVEPOINT%s+(%S+)$"), mark = #(self.undo or {}) }
  elseif s:match("^RELEASE") then
    self.savepoints[#self.savepoints] = nil
  else
    db.writes = db.writes + 1
  end
  return true
end

--- query(sql): recorded; returns an empty result.
function Conn:query(sql)
  check_open(self)
  self.db.statements[#self.db.statements + 1] = sql
  if self.aborted then
    return nil, ABORTED, "25P02"
  end
  return {}
end

function Conn:begin() return self:exec("BEGIN") end
function Conn:commit() return self:exec("COMMIT") end
function Conn:rollback() return self:exec("ROLLBACK") end

--- transaction(fn): BEGIN; fn(conn); COMMIT when it returns a true value,
-- ROLLBACK (and its nil, message, code) otherwise; errors are re-raised after the rollback.
function Conn:transaction(fn)
  local ok, err, code = self:begin()
  if not ok then
    return nil, err, code
  end
  local results = table.pack(pcall(fn, self))
  if not results[1] then
    self:rollback()
    error(results[2], 0)
  end
  if not results[2] then
    self:rollback()
    return nil, results[3], results[4]
  end
  ok, err, code = self:commit()
  if not ok then
    return nil, err, code
  end
  return table.unpack(results, 2, results.n)
end

--- close(): an open transaction is rolled back, as the server does when a client goes away.
function Conn:close()
  if not self.closed then
    if self.undo then
      undo_to(self, 0)
      self.undo = nil
    end
    self.closed = true
    self.db.open_conns = self.db.open_conns - 1
  end
end

-- The key string of row for key columns.
local function key_of(row, key)
  local parts = {}
  for i, c in ipairs(key) do
    parts[i] = tostring(row[c])
  end
  return table.concat(parts, "\0")
end

-- The stored form of row: only `columns` when given.
local function project(row, columns)
  local out = {}
  if columns then
    for _, c in ipairs(columns) do
      out[c] = row[c]
    end
  else
    for c, v in pairs(row) do
      out[c] = v
    end
  end
  return out
end

-- Merges new into old for an update; returns the merged row and whether anything changed.
local function merge(old, new, key, opts)
  local merged, changed = {}, false
  for c, v in pairs(old) do
    merged[c] = v
  end
  local keyset = {}
  for _, c in ipairs(key) do
    keyset[c] = true
  end
  local cols = opts.update
  if cols == nil then
    cols = {}
    for c in pairs(new) do
      if not keyset[c] then
        cols[#cols + 1] = c
      end
    end
  end
  for _, c in ipairs(cols) do
    if tostring(merged[c]) ~= tostring(new[c]) then
      changed = true
    end
    merged[c] = new[c]
  end
  if changed or not opts.skip_unchanged then
    for c, expr in pairs(opts.set or {}) do
      merged[c] = expr
    end
  end
  return merged, changed
end

-- The upsert itself (see Conn:upsert).
local function upsert_now(self, tbl, rows, opts)
  check_open(self)
  assert(type(tbl) == "string", "upsert: table name must be a string")
  assert(type(rows) == "table", "upsert: rows must be a list")
  opts = opts or {}
  assert(type(opts.key) == "table" and #opts.key > 0, "upsert: opts.key must list the key columns")
  local db = self.db
  db.upserts = db.upserts + 1
  if self.aborted then
    return nil, ABORTED, "25P02"
  end
  local f = db:take_fault("upsert", tbl)
  if f then
    self.aborted = self.undo ~= nil
    return nil, f.message, f.code
  end
  for _, row in ipairs(rows) do
    for _, refuse in ipairs(db.refusers) do
      local msg, code = refuse(tbl, row)
      if msg then
        self.aborted = self.undo ~= nil
        return nil, string.format("%s: %s (key %s)", tbl, msg, key_of(row, opts.key):gsub("%z", ",")), code
      end
    end
  end
  local t = db.tables[tbl]
  if not t then
    t = { rows = {}, order = {}, seen = {} }
    db.tables[tbl] = t
  end
  -- rows apply in order, as row-by-row upserts would: a key repeated in the
  -- batch updates the row its first occurrence inserted (the last one wins)
  local keys, existed, changed = {}, {}, {}
  for _, row in ipairs(rows) do
    local k = key_of(row, opts.key)
    local new = project(row, opts.columns)
    local old = t.rows[k]
    if existed[k] == nil then
      keys[#keys + 1] = k
      existed[k] = old ~= nil
      remember(self, t, k)
    end
    if old == nil then
      for c, expr in pairs(opts.set or {}) do
        new[c] = expr
      end
      t.rows[k] = new
      if not t.seen[k] then
        t.seen[k] = true
        t.order[#t.order + 1] = k
      end
    else
      local merged, diff = merge(old, new, opts.key, opts)
      if diff or not opts.skip_unchanged then
        t.rows[k] = merged
        changed[k] = true
      end
    end
  end
  local st = { inserted = 0, updated = 0, unchanged = 0 }
  for _, k in ipairs(keys) do
    if not existed[k] then
      st.inserted = st.inserted + 1
    elseif changed[k] then
      st.updated = st.updated + 1
    else
      st.unchanged = st.unchanged + 1
    end
  end
  if st.inserted + st.updated > 0 then
    db.writes = db.writes + 1
  end
  return st
end

--- upsert(tbl, rows, opts) -> {inserted, updated, unchanged} | nil, message, code.
function Conn:upsert(tbl, rows, opts)
  return upsert_now(self, tbl, rows, opts)
end

--- upsert_writer(tbl, opts) -> writer, as the real one, inside a transaction:
-- write(rows, context) gathers rows into batches of opts.batch_size (default
-- 10,000) loaded under a savepoint; with opts.on_refused a batch refused for
-- a row's values is loaded again row by row and each refused row goes to
-- on_refused(context, index, message, code). flush() loads what is gathered;
-- settled() -> rows loaded or refused; finish() -> {inserted, updated,
-- unchanged, merged, batches}; close().
function Conn:upsert_writer(tbl, opts)
  check_open(self)
  assert(self.undo ~= nil, "an upsert writer needs an open transaction (call begin() first)")
  local options, on_refused = {}, opts.on_refused
  for k, v in pairs(opts) do
    if k ~= "on_refused" and k ~= "batch_size" and k ~= "batch_bytes" and k ~= "first_row" and k ~= "copy_new_keys"
      and k ~= "copy_binary" then
      options[k] = v
    end
  end
  local size = opts.batch_size or 10000
  local gathered, stats = {}, { inserted = 0, updated = 0, unchanged = 0, merged = 0, batches = 0 }
  local written = 0
  local state = "open"
  local conn = self
  local w = {}
  local function check()
    assert(state == "open", state == "failed" and "attempt to use an upsert writer that failed"
      or "attempt to use a finished upsert writer")
    check_open(conn)
  end
  -- Loads items (each {row, context, index}) under a savepoint; true, or nil, message, code.
  local function load(items, alone)
    local rows = {}
    for i, it in ipairs(items) do
      rows[i] = it[1]
    end
    conn:exec("SAVEPOINT se_batch")
    local st, err, code = upsert_now(conn, tbl, rows, options)
    if st then
      conn:exec("RELEASE SAVEPOINT se_batch")
      for k in pairs(st) do
        stats[k] = stats[k] + st[k]
      end
      stats.merged = stats.merged + #rows - (st.inserted + st.updated + st.unchanged)
      return true
    end
    conn:exec("ROLLBACK TO SAVEPOINT se_batch")
    conn:exec("RELEASE SAVEPOINT se_batch")
    if not (on_refused and require("salesengine.etl_load").isolatable(code)) then
      return nil, err, code
    end
    if alone then
      on_refused(items[1][2], items[1][3], err, code)
      return true
    end
    for _, it in ipairs(items) do
      local ok, rerr, rcode = load({ it }, true)
      if not ok then
        return nil, rerr, rcode
      end
    end
    return true
  end
  local function flush()
    local items = gathered
    gathered = {}
    if #items == 0 then
      return true
    end
    stats.batches = stats.batches + 1
    local ok, err, code = load(items)
    if not ok then
      state = "failed"
    end
    return ok, err, code
  end
  function w.write(_, rows, context)
    check()
    for i, row in ipairs(rows) do
      gathered[#gathered + 1] = { row, context, i }
      written = written + 1
      if #gathered >= size then
        local ok, err, code = flush()
        if not ok then
          return nil, err, code
        end
      end
    end
    return true
  end
  function w.flush(_)
    check()
    return flush()
  end
  function w.settled(_)
    return written - #gathered
  end
  function w.finish(_)
    check()
    local ok, err, code = flush()
    if not ok then
      return nil, err, code
    end
    state = "finished"
    return stats
  end
  function w.close(_)
    state = "finished"
  end
  return setmetatable(w, { __close = w.close })
end

return M
