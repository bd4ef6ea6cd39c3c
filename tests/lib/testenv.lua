--- Helpers for specs: running processes, PostgreSQL databases and clusters.
-- Specs run from the repository root under the salesengine binary (ctest
-- sets SALESENGINE, SE_SOURCE_DIR, SE_BUILD_DIR and SE_TEST_PGDIR).
local M = {}

local function cwd()
  local p = io.popen("pwd")
  local dir = p:read("l")
  p:close()
  return dir
end

M.root = os.getenv("SE_SOURCE_DIR") or cwd()
M.bin = os.getenv("SALESENGINE") or (M.root .. "/build/salesengine")
--- The fixtures' interpreter (tools/python3: Debian's, not the first python3 on PATH).
M.python3 = M.root .. "/tools/python3"
M.cluster_script = M.root .. "/tests/lib/pg_cluster.sh"

--- Quotes s for /bin/sh.
function M.shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
M.read_file = read_file

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Every directory tmpdir made; whatever a spec left behind is removed when
-- the Lua state closes (the salesengine host always closes it).
local made = {}
M._cleanup = setmetatable({}, {
  __gc = function()
    for _, dir in ipairs(made) do
      os.execute("rm -rf '" .. dir .. "'")
    end
  end,
})

--- A fresh temporary directory, removed by rm_rf or at the end of the run.
function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/se-test.XXXXXX")
  local dir = p:read("l")
  p:close()
  made[#made + 1] = dir
  return dir
end

function M.rm_rf(path)
  os.execute("rm -rf " .. M.shquote(path))
end

--- Runs argv (a list of strings) and waits. opts.env: extra environment
-- variables (a value of false unsets it); opts.stdin: text for standard input;
-- opts.timeout: seconds before the process is killed (default 300).
-- Returns {code = exit status, stdout = ..., stderr = ...}.
function M.run(argv, opts)
  opts = opts or {}
  -- os.tmpname makes the files without a process (the suite runs thousands of commands)
  local stdin, stdout, stderr = os.tmpname(), os.tmpname(), os.tmpname()
  local parts = { "env" }
  for k, v in pairs(opts.env or {}) do
    if v == false then
      parts[#parts + 1] = "-u " .. M.shquote(k)
    end
  end
  for k, v in pairs(opts.env or {}) do
    if v ~= false then
      parts[#parts + 1] = M.shquote(k .. "=" .. tostring(v))
    end
  end
  parts[#parts + 1] = "timeout -k 5 " .. tostring(opts.timeout or 300)
  for _, a in ipairs(argv) do
    parts[#parts + 1] = M.shquote(a)
  end
  M.write_file(stdin, opts.stdin or "")
  local cmd = table.concat(parts, " ") .. " <" .. stdin .. " >" .. stdout .. " 2>" .. stderr
  local _, _, code = os.execute(cmd)
  local result = { code = code, stdout = read_file(stdout), stderr = read_file(stderr) }
  os.remove(stdin)
  os.remove(stdout)
  os.remove(stderr)
  return result
end

--- Runs the salesengine binary with the given arguments (see run).
function M.salesengine(args, opts)
  local argv = { M.bin }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a
  end
  return M.run(argv, opts)
end

--- Reads a pg_cluster.sh env file into a table.
local function read_env(path)
  local env = {}
  for line in io.lines(path) do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then
      env[k] = v:match("^'(.*)'$") or v
    end
  end
  return env
end

--- The shared test cluster's settings (PGHOST, PGPORT, SE_PG_PASSWORD, ...).
function M.pg_env()
  local dir = assert(os.getenv("SE_TEST_PGDIR"), "SE_TEST_PGDIR is not set: run integration specs via ctest")
  return read_env(dir .. "/env")
end

--- PostgreSQL's own psql, not Debian's wrapper /usr/bin/psql (a Perl program that picks a version:
-- 50 ms a call, and the suite makes hundreds).
M.psql_bin = (function()
  local p = io.popen("ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1")
  local path = p:read("l")
  p:close()
  return path or "psql"
end)()

--- Runs sql with psql against dsn (-XAtq, fields separated by |, ON_ERROR_STOP);
-- raises with psql's message on error; returns stdout.
function M.psql(dsn, sql)
  local r = M.run({ M.psql_bin, "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql })
  if r.code ~= 0 then
    error("psql failed: " .. r.stderr, 2)
  end
  return r.stdout
end

local function admin_dsn(env)
  return string.format("host=%s port=%s user=postgres dbname=postgres", env.PGHOST, env.PGPORT)
end

--- A brand-new empty database in the shared cluster; returns its DSN (over the
-- unix socket, as the superuser) and a second DSN that connects over TCP with
-- a password (for secret-redaction tests).
function M.fresh_db(name)
  local env = M.pg_env()
  local db = "t_" .. tostring(name):lower():gsub("[^%w_]", "_")
  M.psql(admin_dsn(env), 'DROP DATABASE IF EXISTS "' .. db .. '" WITH (FORCE)')
  M.psql(admin_dsn(env), 'CREATE DATABASE "' .. db .. '"')
  local dsn = string.format("host=%s port=%s user=postgres dbname=%s", env.PGHOST, env.PGPORT, db)
  local password_dsn = string.format("postgresql://se_secret:%s@127.0.0.1:%s/%s", env.SE_PG_PASSWORD,
    env.PGPORT, db)
  return dsn, password_dsn, env.SE_PG_PASSWORD
end

--- A free TCP port on 127.0.0.1 (free when asked; bind soon after).
function M.free_port()
  local p = io.popen(M.python3 .. [[ -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); ]] ..
    [[print(s.getsockname()[1])']])
  local port = tonumber(p:read("l"))
  p:close()
  return port
end

local Cluster = {}
Cluster.__index = Cluster

local function cluster_cmd(self, what)
  local ok = os.execute(M.shquote(M.cluster_script) .. " " .. what .. " " .. M.shquote(self.dir) .. " >/dev/null")
  assert(ok, "pg_cluster.sh " .. what .. " failed")
end
function Cluster:restart() cluster_cmd(self, "restart") end
function Cluster:kill() cluster_cmd(self, "kill") end
function Cluster:up() cluster_cmd(self, "up") end
function Cluster:stop() cluster_cmd(self, "stop") end

--- A private cluster (for tests that restart or stop the server). Call
-- :stop() in a finally/teardown. Fields: dir, env, dsn.
function M.cluster()
  local self = setmetatable({ dir = M.tmpdir() }, Cluster)
  cluster_cmd(self, "start")
  self.env = read_env(self.dir .. "/env")
  self.dsn = self.env.SE_PG_DSN
  return self
end

local Process = {}
Process.__index = Process

--- Stops the background process (SIGTERM, then SIGKILL).
function Process:stop()
  os.execute("kill " .. self.pid .. " 2>/dev/null; sleep 0.1; kill -9 " .. self.pid .. " 2>/dev/null")
end

--- Starts `python3 script args...` (M.python3) in the background; returns a handle with
-- pid and :stop(). Output goes to a log file (handle.log).
function M.python(script, args)
  local log = os.tmpname()
  local parts = { M.python3, M.shquote(script) }
  for _, a in ipairs(args or {}) do
    parts[#parts + 1] = M.shquote(a)
  end
  local p = io.popen(table.concat(parts, " ") .. " >" .. log .. " 2>&1 </dev/null & echo $!")
  local pid = assert(tonumber(p:read("l")), "could not start " .. script)
  p:close()
  return setmetatable({ pid = pid, log = log }, Process)
end

--- The content of path, or nil when it cannot be read.
function M.try_read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

--- Polls fn() every 50 ms until it returns a true value (returned), or raises
-- naming what after timeout seconds (default 60).
function M.wait_until(what, fn, timeout)
  local deadline = os.time() + (timeout or 60)
  repeat
    local v = fn()
    if v then
      return v
    end
    os.execute("sleep 0.05")
  until os.time() > deadline
  error("timed out waiting for " .. what, 2)
end

--- A request with the curl command-line tool (independent of the engine
-- under test), for fixture control endpoints; returns the response body.
function M.curl(method, url, body)
  local cmd = "curl -sS --max-time 30 -X " .. method .. " " .. M.shquote(url)
  if body then
    cmd = cmd .. " -H 'Content-Type: application/json' --data-binary " .. M.shquote(body)
  end
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

--- Waits until path exists and is not empty (up to timeout seconds); returns its content.
function M.wait_for_file(path, timeout)
  local deadline = os.time() + (timeout or 20)
  repeat
    local f = io.open(path, "rb")
    if f then
      local s = f:read("a")
      f:close()
      if s ~= "" then
        return s
      end
    end
    os.execute("sleep 0.05")
  until os.time() > deadline
  error("timed out waiting for " .. path, 2)
end

return M
