--- A real Citus cluster for the integration specs: a coordinator and N
-- workers on loopback, started by the shared ../shared/citus/citus.sh (which
-- installs the extension into PostgreSQL 15 first). Nothing of it is copied
-- into the project.
--
--   local citus = dofile("tests/lib/citus.lua")
--   local c = citus.start(2)        -- nil, why: PostgreSQL 15 is not installed
--   ... c.dsn, c.psql(sql), c.stop_worker(1), c.start_worker(1), c.stop()
local testenv = dofile("tests/lib/testenv.lua")

local M = {}

local PG15 = "/usr/lib/postgresql/15/bin"

-- citus.sh: SE_CITUS_SH, else ../shared/citus/citus.sh beside the checkout
-- (or beside /work/main, where a clone elsewhere was made from).
local function script()
  local candidates = { os.getenv("SE_CITUS_SH"), testenv.root .. "/../shared/citus/citus.sh",
    "/work/shared/citus/citus.sh" }
  for i = 1, 3 do -- in this order (candidates[1] may be nil)
    local path = candidates[i]
    local f = path and io.open(path, "rb")
    if f then
      f:close()
      return path
    end
  end
  return nil
end

-- A base port with base .. base + n free on 127.0.0.1.
local function free_ports(n)
  for _ = 1, 50 do
    local base = testenv.free_port()
    local ok = base + n < 65536
    for i = 1, n do
      if not ok then
        break
      end
      ok = testenv.run({ testenv.python3, "-c", string.format(
        "import socket; s=socket.socket(); s.bind(('127.0.0.1', %d))", base + i) }).code == 0
    end
    if ok then
      return base
    end
  end
  error("no free run of ports for a Citus cluster")
end

--- Starts a coordinator and `workers` workers; returns the cluster, or nil
-- and the reason when PostgreSQL 15's server is not installed (the only case
-- a spec may skip). Raises when citus.sh is missing or the cluster does not start.
function M.start(workers)
  if not io.open(PG15 .. "/postgres", "rb") then
    return nil, "PostgreSQL 15's server (postgresql-15) is not installed: Citus 13.2 needs it"
  end
  local sh = assert(script(), "citus.sh not found: set SE_CITUS_SH to ../shared/citus/citus.sh")
  local dir = testenv.tmpdir()
  local port = free_ports(workers)
  local r = testenv.run({ sh, "start", dir, tostring(port), tostring(workers) }, { timeout = 180 })
  if r.code ~= 0 then
    testenv.run({ sh, "stop", dir })
    error("citus.sh start failed: " .. r.stderr .. r.stdout)
  end
  local c = { dir = dir, port = port, workers = workers,
    dsn = string.format("host=127.0.0.1 port=%d user=postgres dbname=postgres", port) }

  --- Runs sql on the coordinator; returns psql's output (raises on an error).
  function c.psql(sql)
    return testenv.psql(c.dsn, sql)
  end

  -- pg_ctl on node i (0: the coordinator) as the postgres user.
  local function pg_ctl(i, ...)
    local argv = { PG15 .. "/pg_ctl", "-D", dir .. "/node" .. i, "-w", ... }
    if testenv.run({ "id", "-u" }).stdout:match("^0") then
      table.insert(argv, 1, "--")
      table.insert(argv, 1, "postgres")
      table.insert(argv, 1, "-u")
      table.insert(argv, 1, "runuser")
    end
    local res = testenv.run(argv, { timeout = 60 })
    assert(res.code == 0, "pg_ctl " .. table.concat({ ... }, " ") .. " node" .. i .. ": " .. res.stderr)
  end

  --- Stops worker i (1..workers) at once, as a crash would.
  function c.stop_worker(i)
    pg_ctl(i, "-m", "immediate", "stop")
  end

  --- Starts worker i again (same port).
  function c.start_worker(i)
    pg_ctl(i, "-l", dir .. "/node" .. i .. "/log", "start")
  end

  --- Stops every node and removes the cluster.
  function c.stop()
    testenv.run({ sh, "stop", dir }, { timeout = 120 })
    testenv.rm_rf(dir)
  end

  return c
end

return M
