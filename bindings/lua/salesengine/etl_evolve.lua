--- salesengine.etl_evolve: what a sink does when its rows carry a column its
-- table lacks (sink.evolve), for salesengine.etl.
--
--   "freeze" (the default): the run fails (load, exit 4, SQLSTATE 42703)
--     naming the column and printing the ALTER TABLE statement to run;
--   "add_columns": the column is added in the run's transaction
--     (ALTER TABLE ... ADD COLUMN IF NOT EXISTS), logged at warn level, with
--     the type the sink declares (types = {currency = "text"}) or the one the
--     batch's values suggest (M.infer): text, numeric, bigint, boolean,
--     timestamptz or jsonb.
-- A column the table has and the rows no longer carry is left alone. A
-- declared type that differs from the column's is refused in both modes
-- (42804), printing the ALTER TABLE ... TYPE statement that would widen it.
-- The columns carried are the sink's `columns` when it lists them, else
-- every field of the rows (as conn:upsert decides). Everything goes through
-- conn:query on the catalog; names are quoted by the server (format %I,
-- regclass), values are parameters; the type names of `types` come from
-- the script (like `set`), are checked with to_regtype, never from data.
local cjson = require "cjson"

local M = {}

--- The modes of sink.evolve.
M.MODES = { freeze = true, add_columns = true }

-- The type suggested by one value, or nil (nil, JSON null).
local function type_of(v)
  local t = type(v)
  if t == "string" then
    if v:match("^%d%d%d%d%-%d%d%-%d%d[T ]%d%d:%d%d") and (v:match("[Zz]$") or v:match("[+-]%d%d:?%d%d$")) then
      return "timestamptz"
    elseif v:match("^[+-]?%d+%.%d+$") then
      return "numeric"
    end
    return "text"
  elseif math.type(v) == "integer" then
    return "bigint"
  elseif t == "number" then
    return "numeric"
  elseif t == "boolean" then
    return "boolean"
  elseif t == "table" then
    return "jsonb"
  end
  return nil
end

--- The column type for a list of values (nil and JSON null say nothing):
-- the type every value suggests — a string holding an ISO-8601 date-time
-- with an offset: timestamptz; a decimal with a point ("12.50", what
-- tx.decimal returns): numeric; other strings: text; integers: bigint;
-- other numbers: numeric; booleans: boolean; tables: jsonb —, numeric for
-- bigint and numeric together, text for any other mix or no value at all.
function M.infer(values)
  local found
  for _, v in ipairs(values) do
    local t = v ~= cjson.null and type_of(v) or nil
    if t and found and t ~= found then
      if (t == "numeric" or t == "bigint") and (found == "numeric" or found == "bigint") then
        t = "numeric"
      else
        return "text"
      end
    end
    found = t or found
  end
  return found or "text"
end

local Evolver = {}
Evolver.__index = Evolver

--- The policy of one sink: sink = {name, table, columns (the upsert's, or
-- nil), evolve (mode, default "freeze"), types ({column = SQL type} or
-- nil)}; log(level, msg, fields).
function M.new(sink, log)
  return setmetatable({ sink = sink, mode = sink.evolve or "freeze", types = sink.types or {}, log = log,
    catalog = nil, known = nil }, Evolver)
end

-- The catalog of the sink's table: {oid, names = {name -> type_oid}}, or
-- false when there is no such table (the upsert then says so).
function Evolver:read_catalog(conn)
  local schema, name = self.sink.table:match("^([^.]+)%.(.+)$")
  local rows, err, code = conn:query([[
    SELECT c.oid::int8 AS oid, a.attname AS name, a.atttypid::int8 AS type_oid
    FROM (SELECT to_regclass(CASE WHEN $1 = '' THEN quote_ident($2)
                                  ELSE quote_ident($1) || '.' || quote_ident($2) END) AS oid) c
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped]],
    schema or "", name or self.sink.table)
  if not rows then
    return nil, err, code
  end
  if rows[1] == nil or type(rows[1].oid) ~= "number" then
    return false
  end
  local names = {}
  for _, r in ipairs(rows) do
    if type(r.name) == "string" then
      names[r.name] = r.type_oid
    end
  end
  return { oid = rows[1].oid, names = names }
end

-- conn:query(sql, ...)'s first row, or nil, message, code.
local function one(conn, sql, ...)
  local rows, err, code = conn:query(sql, ...)
  if not rows then
    return nil, err, code
  end
  return rows[1]
end

-- "sink NAME: " or "table T: " — how messages start.
function Evolver:label()
  return self.sink.name == self.sink.table and "table " .. self.sink.table
    or string.format("sink %s (table %s)", self.sink.name, self.sink.table)
end

-- Refuses a declared type that differs from an existing column's; checks
-- that each declared type is one. Returns true or nil, message, code.
function Evolver:check_types(conn)
  local names = {}
  for column in pairs(self.types) do
    names[#names + 1] = column
  end
  table.sort(names)
  for _, column in ipairs(names) do
    local declared = self.types[column]
    local row, err, code = one(conn, [[
      SELECT to_regtype($1::text)::int8 AS oid,
             format('ALTER TABLE %s ALTER COLUMN %I TYPE %s', $2::oid::regclass, $3::text, $1::text) AS statement]],
      declared, self.catalog.oid, column)
    if not row then
      return nil, string.format("%s: types.%s: %s", self:label(), column, tostring(err)), code
    elseif type(row.oid) ~= "number" then
      return nil, string.format("%s: types.%s: type %q does not exist", self:label(), column, declared), "42704"
    end
    local have = self.catalog.names[column]
    if have ~= nil and have ~= row.oid then
      local current = one(conn, "SELECT format_type($1::oid, NULL) AS t", have)
      return nil, string.format("%s: column %q is %s in the table, the sink declares %s (types.%s); a run " ..
        "never changes a column's type. To widen it, run:\n  %s;", self:label(), column,
        current and current.t or "another type", declared, column, row.statement), "42804"
    end
  end
  return true
end

-- The columns of batch b's rows (for this sink; salesengine.etl_load.batch)
-- that the table lacks, in name order, with their values: list of {name, values}.
function Evolver:missing(b)
  local known, found, order = self.known, {}, {}
  local sink_name, listed = self.sink.name, self.sink.columns
  local function note(row)
    for k, v in next, row do
      if not known[k] and type(k) == "string" and (listed == nil or self.listed[k]) then
        local f = found[k]
        if f == nil then
          f = { name = k, values = {} }
          found[k] = f
          order[#order + 1] = f
        end
        f.values[#f.values + 1] = v
      end
    end
  end
  for i = 1, b.n do
    if b.one_sink then
      note(b.out[i])
    else
      for _, row in ipairs(b.out[i][sink_name]) do
        note(row)
      end
    end
  end
  if listed then -- a listed column no row carries is sent as NULL: it must exist too
    for _, c in ipairs(listed) do
      if not known[c] and not found[c] then
        order[#order + 1] = { name = c, values = {} }
        found[c] = order[#order]
      end
    end
  end
  table.sort(order, function(x, y) return x.name < y.name end)
  return order
end

--- Before batch b (salesengine.etl_load.batch) is loaded: makes sure the
-- table has every column that its rows carry for this sink (see the header).
-- free() returns the load's connection once nothing runs on it. Returns true
-- or nil, message, code.
function Evolver:check(b, free)
  if self.catalog == nil then
    local catalog, err, code = self:read_catalog(free())
    if catalog == nil then
      return nil, err, code
    end
    self.catalog = catalog
    if catalog then
      local ok
      ok, err, code = self:check_types(free())
      if not ok then
        return nil, err, code
      end
      self.known = {}
      for name in pairs(catalog.names) do
        self.known[name] = true
      end
      self.listed = {}
      for _, c in ipairs(self.sink.columns or {}) do
        self.listed[c] = true
      end
    end
  end
  if not self.catalog or (self.sink.columns and self.checked_listed) then
    return true -- no table (the upsert says so), or the listed columns are there
  end
  self.checked_listed = true
  local missing = self:missing(b)
  if #missing == 0 then
    return true
  end
  local conn = free()
  local statements = {}
  for i, m in ipairs(missing) do
    local declared = self.types[m.name]
    local ty = declared or M.infer(m.values)
    local row, err, code = one(conn, "SELECT format('ALTER TABLE %s ADD COLUMN %I %s', $1::oid::regclass, " ..
      "$2::text, $3::text) AS statement", self.catalog.oid, m.name, ty)
    if not row then
      return nil, err, code
    end
    statements[i] = row.statement
    m.type, m.inferred = ty, declared == nil
  end
  if self.mode == "freeze" then
    local names = {}
    for i, m in ipairs(missing) do
      names[i] = string.format("%q", m.name)
    end
    return nil, string.format("%s has no column %s, which the rows carry (the sink's evolve is \"freeze\", " ..
      "the default). Add %s with:\n  %s;\nor let the run add %s: evolve = \"add_columns\" in the sink",
      self:label(), table.concat(names, ", "), #missing > 1 and "them" or "it", table.concat(statements, ";\n  "),
      #missing > 1 and "them" or "it"), "42703"
  end
  for i, m in ipairs(missing) do
    local statement = statements[i]:gsub(" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS ", 1)
    local ok, err, code = conn:exec(statement)
    if not ok then
      return nil, string.format("%s: adding column %q failed: %s", self:label(), m.name, tostring(err)), code
    end
    self.known[m.name] = true
    self.log("warn", "added column", { table = self.sink.table, column = m.name, type = m.type,
      type_from = m.inferred and "values" or "types", statement = statement })
  end
  return true
end

return M
