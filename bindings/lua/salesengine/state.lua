--- salesengine.state: incremental state of pipelines, kept in PostgreSQL.
--
-- One row per pipeline in the table etl_state (created when missing). Every
-- function works on a salesengine.pg connection given by the caller, so a
-- write can be part of the caller's transaction: the cursor commits together
-- with the rows it covers, or not at all. Writes are guarded by a version
-- number (compare-and-set), and runs of one pipeline exclude each other with
-- a session-level PostgreSQL advisory lock on a stable 64-bit hash of the
-- pipeline's name. Expected failures return nil, message, code (a SQLSTATE,
-- "LOCKED" or "CONFLICT"). Reference: docs/lua-api.md.
local cjson = require "cjson"
local se_json = require "salesengine.json" -- the one decoder (cjson only encodes)

local M = {}

M.TABLE = "etl_state"

M.SCHEMA = [[
CREATE TABLE IF NOT EXISTS etl_state (
    pipeline     text PRIMARY KEY,
    cursor_value jsonb,               -- the cursor: a JSON string (UTC ISO-8601) or number; NULL = none yet
    cursor_field text,                -- the record field the cursor follows
    resume       jsonb,               -- progress of an unfinished commit-every run, NULL when none
    last_since   jsonb,               -- where the last completed run's window started
    last_run_id  text,
    version      bigint NOT NULL DEFAULT 0,   -- +1 on every write (compare-and-set)
    updated_at   timestamptz NOT NULL DEFAULT now()
)]]

local COLUMNS = [[pipeline, cursor_value::text AS cursor_value, cursor_field, resume::text AS resume,
  last_since::text AS last_since, last_run_id, version,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at]]

--- FNV-1a, 64 bits, of s, as a Lua integer (wrapping arithmetic).
function M.fnv1a64(s)
  local h = 0xcbf29ce484222325
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 0x100000001b3
  end
  return h
end

--- The advisory-lock key of a pipeline: FNV-1a 64 of "salesengine.etl_state:" .. name.
-- Stable across runs, machines and PostgreSQL versions.
function M.lock_key(name)
  return M.fnv1a64("salesengine.etl_state:" .. name)
end

-- conn:exec that returns true or nil, message, code.
local function exec(conn, sql, ...)
  local r, err, code = conn:exec(sql, ...)
  if not r then
    return nil, err, code
  end
  return r
end

-- JSON text of v for a jsonb parameter; nil stays NULL.
local function json(v)
  if v == nil then
    return cjson.null
  end
  return cjson.encode(v)
end

-- Decodes a jsonb column read as text; NULL gives nil.
local function decode(v)
  if v == nil or v == cjson.null then
    return nil
  end
  return se_json.decode(v)
end

-- A row of etl_state with its JSON columns decoded.
local function decode_row(row)
  local null = cjson.null
  local function value(v)
    if v == null then
      return nil
    end
    return v
  end
  return {
    pipeline = row.pipeline,
    cursor = decode(row.cursor_value),
    cursor_field = value(row.cursor_field),
    resume = decode(row.resume),
    last_since = decode(row.last_since),
    last_run_id = value(row.last_run_id),
    version = row.version,
    updated_at = row.updated_at,
  }
end

--- Creates etl_state when missing (salesengine.pg_setup.run: in a transaction of
-- its own, under the set-up lock, so concurrent first runs do not collide).
-- Returns true or nil, message, code. Not for use inside an open transaction.
function M.ensure(conn)
  local ok, err, code = require("salesengine.pg_setup").run(conn, M.SCHEMA)
  if not ok then
    return nil, "cannot create the " .. M.TABLE .. " table: " .. tostring(err), code
  end
  return true
end

--- Makes sure pipeline name has a row (a fresh one has no cursor, version 0).
function M.init(conn, name)
  local ok, err, code = exec(conn,
    "INSERT INTO etl_state (pipeline) VALUES ($1) ON CONFLICT (pipeline) DO NOTHING", name)
  if not ok then
    return nil, err, code
  end
  return true
end

--- The state of pipeline name: {pipeline, cursor, cursor_field, resume, last_since,
-- last_run_id, version, updated_at}, false when it has none (no row, or no
-- etl_state table), or nil, message, code.
function M.read(conn, name)
  local rows, err, code = conn:query("SELECT " .. COLUMNS .. " FROM etl_state WHERE pipeline = $1", name)
  if not rows then
    if code == "42P01" then -- undefined_table: no state was ever written here
      return false
    end
    return nil, err, code
  end
  if rows[1] == nil then
    return false
  end
  return decode_row(rows[1])
end

--- Every pipeline's state, ordered by name (an empty list without the table).
function M.list(conn)
  local rows, err, code = conn:query("SELECT " .. COLUMNS .. " FROM etl_state ORDER BY pipeline")
  if not rows then
    if code == "42P01" then
      return {}
    end
    return nil, err, code
  end
  for i, row in ipairs(rows) do
    rows[i] = decode_row(row)
  end
  return rows
end

-- Runs an UPDATE guarded by version; returns the new version, or nil, message, "CONFLICT".
local function guarded_update(conn, name, version, sql, ...)
  local r, err, code = exec(conn, sql, name, version, ...)
  if not r then
    return nil, err, code
  end
  if r.rows_affected ~= 1 then
    return nil, string.format("the state of pipeline '%s' was changed or reset by someone else during this run "
      .. "(expected version %d); nothing of this run is saved", name, version), "CONFLICT"
  end
  return version + 1
end

--- Saves a completed run: cursor (string, number or nil), cursor_field, the
-- window start `since` and the run id; clears the resume point. Only when the
-- row still has `version` (else "CONFLICT"). Returns the new version or nil, message, code.
function M.save(conn, name, version, s)
  return guarded_update(conn, name, version, [[
UPDATE etl_state SET cursor_value = $3::jsonb, cursor_field = $4, resume = NULL, last_since = $5::jsonb,
       last_run_id = $6, version = version + 1, updated_at = now()
 WHERE pipeline = $1 AND version = $2]], json(s.cursor), s.cursor_field or cjson.null, json(s.since),
    s.run_id or cjson.null)
end

--- Saves the progress of a commit-every run (resume: a table, see docs/lua-api.md)
-- without touching the cursor. Same guard and results as save.
function M.save_progress(conn, name, version, resume)
  return guarded_update(conn, name, version, [[
UPDATE etl_state SET resume = $3::jsonb, version = version + 1, updated_at = now()
 WHERE pipeline = $1 AND version = $2]], json(resume))
end

--- Forgets pipeline name's state (the next run starts from its initial value),
-- or with cursor ~= nil sets the cursor to that value and drops any resume
-- point. Returns true, the number of rows changed; or nil, message, code.
function M.reset(conn, name, cursor)
  local r, err, code
  if cursor == nil then
    r, err, code = exec(conn, "DELETE FROM etl_state WHERE pipeline = $1", name)
    if not r and code == "42P01" then
      return true, 0
    end
  else
    r, err, code = exec(conn, [[
INSERT INTO etl_state AS s (pipeline, cursor_value) VALUES ($1, $2::jsonb)
ON CONFLICT (pipeline) DO UPDATE SET cursor_value = EXCLUDED.cursor_value, resume = NULL,
       version = s.version + 1, updated_at = now()]], name, json(cursor))
  end
  if not r then
    return nil, err, code
  end
  return true, r.rows_affected
end

--- Who holds pipeline name's lock: {pid, application_name, client, since} or
-- false when nobody does; nil, message, code on error.
function M.holder(conn, name)
  local rows, err, code = conn:query([[
SELECT l.pid, a.application_name, coalesce(host(a.client_addr), 'local') AS client,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
  FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = (($1::bigint >> 32) & 4294967295)::oid AND l.objid = ($1::bigint & 4294967295)::oid
 LIMIT 1]], M.lock_key(name))
  if not rows then
    return nil, err, code
  end
  local h = rows[1]
  if h == nil then
    return false
  end
  for k, v in pairs(h) do
    if v == cjson.null then
      h[k] = nil
    end
  end
  return h
end

--- "PostgreSQL session 4242 (application_name ..., since ...)": a lock holder for messages.
function M.describe_holder(h)
  if not h then
    return "another session"
  end
  local parts = {}
  if h.application_name and h.application_name ~= "" then
    parts[#parts + 1] = h.application_name
  end
  parts[#parts + 1] = "from " .. tostring(h.client or "?")
  if h.since then
    parts[#parts + 1] = "connected since " .. h.since
  end
  return string.format("PostgreSQL session %s (%s)", tostring(h.pid), table.concat(parts, ", "))
end

-- The message for a lock held by someone else.
local function held_message(conn, name, what)
  local h = M.holder(conn, name)
  return string.format("pipeline '%s' is locked by another run: %s holds its lock; %s", name,
    M.describe_holder(h), what)
end

--- Takes pipeline name's session-level advisory lock on conn.
-- opts.wait: false (default) = fail at once when another session holds it;
-- true = wait, up to opts.timeout seconds (nil or 0: no limit), calling
-- opts.on_wait(message) once before waiting. Returns true, or nil, message,
-- "LOCKED" (held, or still held when the wait timed out), or nil, message, sqlstate.
function M.lock(conn, name, opts)
  opts = opts or {}
  local key = M.lock_key(name)
  local rows, err, code = conn:query("SELECT pg_try_advisory_lock($1::bigint) AS locked", key)
  if not rows then
    return nil, err, code
  end
  if rows[1].locked then
    return true
  end
  if not opts.wait then
    return nil, held_message(conn, name, "this run did not start (it may wait instead: incremental.wait = true)"),
      "LOCKED"
  end
  if opts.on_wait then
    opts.on_wait(held_message(conn, name, "waiting for it to be released"))
  end
  local ms = math.floor((opts.timeout or 0) * 1000 + 0.5)
  local ok
  ok, err, code = exec(conn, "SELECT set_config('lock_timeout', $1, false)", tostring(ms))
  if ok then
    ok, err, code = exec(conn, "SELECT pg_advisory_lock($1::bigint)", key)
    exec(conn, "RESET lock_timeout")
  end
  if ok then
    return true
  end
  if code == "55P03" then -- lock_not_available: lock_timeout expired
    return nil, held_message(conn, name, string.format("gave up after waiting %g s", opts.timeout)), "LOCKED"
  end
  return nil, err, code
end

--- Releases pipeline name's lock taken on conn. Returns true when it was held.
function M.unlock(conn, name)
  local rows = conn:query("SELECT pg_advisory_unlock($1::bigint) AS unlocked", M.lock_key(name))
  return rows ~= nil and rows[1] ~= nil and rows[1].unlocked == true
end

return M
