--- salesengine.state_cli: the `salesengine state` command.
--
--   salesengine state show [NAME] [--dsn DSN] [--json]
--   salesengine state reset NAME [--cursor VALUE] [--dsn DSN]
--
-- show prints a pipeline's incremental state and its partitions' (NAME#I/N; every
-- pipeline's without NAME):
-- cursor, last run, resume point, and who holds its lock. reset forgets it
-- (the next run starts from the pipeline's initial value) or, with --cursor,
-- sets the cursor; it refuses while a run holds the pipeline's lock. The
-- database is --dsn, else WAREHOUSE_DSN, else libpq's defaults (PG* variables).
-- Reference: docs/lua-api.md.
local se = require "salesengine"
local state = require "salesengine.state"
local incremental = require "salesengine.incremental"
local cjson = require "cjson"

local M = {}

M.USAGE = [==[usage: salesengine state show [NAME] [--dsn DSN] [--json]
       salesengine state reset NAME [--cursor VALUE] [--dsn DSN]]==]

-- Ends the command with the usage exit code.
local function usage(message)
  se.fail("usage", message .. "\n" .. M.USAGE)
end

-- Parses args (a list of strings) into {command, name, dsn, json, cursor}.
local function parse(args)
  local o = { command = args[1] }
  if o.command ~= "show" and o.command ~= "reset" then
    usage(o.command == nil and "state: missing command" or "state: unknown command '" .. tostring(o.command) .. "'")
  end
  local valued = { ["--dsn"] = "dsn", ["--cursor"] = "cursor" }
  local i = 2
  while args[i] ~= nil do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if valued[name] then
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then
          usage("state: option " .. name .. " needs a value")
        end
      end
      o[valued[name]] = value
    elseif a == "--json" then
      o.json = true
    elseif a:sub(1, 1) == "-" then
      usage("state: unknown option '" .. a .. "'")
    elseif o.name == nil then
      o.name = a
    else
      usage("state: unexpected argument '" .. a .. "'")
    end
    i = i + 1
  end
  if o.command == "reset" and o.name == nil then
    usage("state reset: which pipeline? give its NAME")
  end
  if o.cursor ~= nil and o.command ~= "reset" then
    usage("state show: --cursor only goes with reset")
  end
  if o.json and o.command ~= "show" then
    usage("state reset: --json only goes with show")
  end
  return o
end
M.parse = parse

--- The stored form of a --cursor value: a number as a number; else an ISO-8601
-- date-time, normalised to UTC ("2026-03-01T08:00:00Z"). nil, reason otherwise.
function M.cursor_value(text)
  local n = tonumber(text)
  if n then
    return n
  end
  local us, why = incremental.parse_time(text)
  if not us then
    return nil, why
  end
  return incremental.format_time(us)
end

-- Connects to the database of the command line or environment.
local function connect(o)
  local dsn = o.dsn
  if dsn == nil or dsn == "" then
    dsn = os.getenv("WAREHOUSE_DSN")
  end
  local conn, err, code = require("salesengine.pg").connect(dsn)
  if not conn then
    se.fail("load", err, code)
  end
  return conn
end

-- Raises the load failure for a database error.
local function check(ok, err, code)
  if not ok then
    se.fail("load", err, code)
  end
  return ok
end

-- A cursor value for display.
local function show_value(v)
  if v == nil then
    return "none (the next run starts from the pipeline's initial value)"
  end
  return type(v) == "string" and v or cjson.encode(v)
end

-- The resume line of a state row.
local function show_resume(r)
  if r == nil then
    return "none"
  end
  return string.format("run %s was interrupted after committing %s page(s) of its window from %s%s%s",
    tostring(r.run_id), tostring(math.tointeger(r.page) or r.page), show_value(r.since),
    r.cursor ~= nil and " (records up to " .. show_value(r.cursor) .. ")" or "",
    r.full_refresh and ", a full refresh" or "")
end

-- The text block describing one pipeline's state.
local function describe(row, holder)
  local lines = {
    "pipeline:    " .. row.pipeline,
    "cursor:      " .. show_value(row.cursor) .. (row.cursor_field and " (field " .. row.cursor_field .. ")" or ""),
    "last run:    " .. (row.last_run_id and row.last_run_id .. ", window from " .. show_value(row.last_since)
      or "none completed"),
    "resume:      " .. show_resume(row.resume),
    "updated at:  " .. tostring(row.updated_at),
    "lock:        " .. (holder and "held by " .. state.describe_holder(holder) or "free"),
  }
  return table.concat(lines, "\n") .. "\n"
end

-- The members of each pipeline in `state show --json`.
local JSON_FIELDS = { "pipeline", "cursor", "cursor_field", "resume", "last_since", "last_run_id", "version",
  "updated_at", "locked_by" }

-- `state show [NAME]`.
local function show(o, conn)
  local rows
  if o.name then -- the pipeline's row, then its partitions' (NAME#I/N)
    rows = {}
    for _, row in ipairs(check(state.list(conn))) do
      if row.pipeline == o.name then
        table.insert(rows, 1, row)
      elseif row.pipeline:sub(1, #o.name + 1) == o.name .. "#" then
        rows[#rows + 1] = row
      end
    end
  else
    rows = check(state.list(conn))
  end
  local holders = {}
  for i, row in ipairs(rows) do
    local h, err, code = state.holder(conn, row.pipeline)
    check(h ~= nil, err, code)
    holders[i] = h
  end
  if o.json then
    local out = {}
    for i, row in ipairs(rows) do
      local h = holders[i]
      row.locked_by = h and state.describe_holder(h) or nil
      local entry = {}
      for _, k in ipairs(JSON_FIELDS) do -- every documented member, null when there is none
        entry[k] = row[k] == nil and cjson.null or row[k]
      end
      out[i] = entry
    end
    io.write(#out == 0 and "[]" or cjson.encode(out), "\n")
  elseif #rows == 0 then
    io.write(o.name and ("no state for pipeline '" .. o.name .. "': its next run starts from its initial value\n")
      or "no pipeline has incremental state in this database\n")
  else
    for i, row in ipairs(rows) do
      io.write(i > 1 and "\n" or "", describe(row, holders[i]))
    end
  end
  return 0
end

-- `state reset NAME [--cursor VALUE]`.
local function reset(o, conn)
  local cursor
  if o.cursor ~= nil then
    local why
    cursor, why = M.cursor_value(o.cursor)
    if cursor == nil then
      usage("state reset: --cursor must be a number or an ISO-8601 date-time: " .. tostring(why))
    end
  end
  local ok, err, code = true, nil, nil
  if cursor ~= nil then
    ok, err, code = state.ensure(conn)
  end
  if ok then
    ok, err, code = state.lock(conn, o.name, { wait = false })
  end
  if not ok then
    if code == "LOCKED" then
      err = err:gsub("; this run did not start.*$", "; state not reset (try again when the run has ended)")
    end
    se.fail("load", err, code)
  end
  local changed
  ok, err, code = state.reset(conn, o.name, cursor)
  if ok then
    changed = err
  end
  state.unlock(conn, o.name)
  check(ok, err, code)
  if cursor ~= nil then
    io.write(string.format("pipeline '%s': cursor set to %s; its next run starts there (minus its lag)\n", o.name,
      show_value(cursor)))
  elseif changed == 0 then
    io.write(string.format("pipeline '%s' had no state; nothing to reset\n", o.name))
  else
    io.write(string.format("pipeline '%s': state reset; its next run starts from its initial value\n", o.name))
  end
  return 0
end

--- What `salesengine state --help` prints.
M.HELP = M.USAGE .. [==[

Shows or resets the incremental state of pipelines (the etl_state table).
  show [NAME]        the cursor, the last run, a resume point and who holds the lock
                     (every pipeline's without NAME); --json: a JSON array
  reset NAME         forget the state: the next run starts from its initial value
  --cursor VALUE     with reset: set the cursor instead (ISO-8601 date-time or number)
  --dsn DSN          the database (default: WAREHOUSE_DSN, else libpq's PG* variables)
Reference: docs/lua-api.md, "salesengine state".]==]

--- Runs the command; args: the words after `salesengine state`. Returns the
-- exit code (0); failures end with salesengine.fail (2 usage, 4 database).
-- -h or --help anywhere prints M.HELP.
function M.main(args)
  assert(type(args) == "table", "state_cli.main expects a list of arguments")
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then
      io.write(M.HELP, "\n")
      return 0
    end
  end
  local o = parse(args)
  local conn <close> = connect(o)
  if o.command == "show" then
    return show(o, conn)
  end
  return reset(o, conn)
end

return M
