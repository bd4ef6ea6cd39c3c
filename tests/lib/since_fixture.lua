--- For the incremental specs: starts tests/fixtures/since_server.py (a sales
-- API with `since`), drives its control endpoints, and runs salesengine in the
-- background (to kill it, or to run two at once).
--
--   local since_fixture = dofile("tests/lib/since_fixture.lua")
--   local api = since_fixture.start(records)   -- api.url, api.sales_url
--   api.add(records); api.stall(page); api.release(); api.fail(page, status)
--   api.log()      -- the /sales requests seen (since, page, size, status, ids)
--   api.reset(); api.stop()
--   local p = since_fixture.spawn(argv, env)   -- p.pid, p:wait(), p:kill(), p:stderr()
local cjson = require "cjson"
local testenv = dofile("tests/lib/testenv.lua")

local M = {}

M.script = testenv.root .. "/tests/fixtures/since_server.py"

local sh = testenv.shquote
local read_all = testenv.try_read_file
local curl = testenv.curl

--- Starts the server with records (a list of tables); returns the api handle.
function M.start(records)
  local dir = testenv.tmpdir()
  testenv.write_file(dir .. "/data.json", cjson.encode(records))
  local proc = testenv.python(M.script, { "--data", dir .. "/data.json", "--port-file", dir .. "/port" })
  local port = tonumber(testenv.wait_for_file(dir .. "/port"):match("%d+"))
  local api = { url = "http://127.0.0.1:" .. port, dir = dir }
  api.sales_url = api.url .. "/sales"
  function api.add(list) curl("POST", api.url .. "/_add", cjson.encode(list)) end
  function api.stall(page) curl("POST", api.url .. "/_stall?page=" .. page) end
  function api.release() curl("POST", api.url .. "/_release") end
  function api.fail(page, status)
    curl("POST", api.url .. "/_fail" .. (page and ("?page=" .. page .. "&status=" .. (status or 500)) or ""))
  end
  function api.stalled() return cjson.decode(curl("GET", api.url .. "/_stalled")).stalled end
  function api.log() return cjson.decode(curl("GET", api.url .. "/_log")) end
  function api.reset() curl("POST", api.url .. "/_reset") end
  function api.stop()
    proc:stop()
    testenv.rm_rf(dir)
  end
  return api
end

M.wait_until = testenv.wait_until

local Proc = {}
Proc.__index = Proc

--- Starts argv in the background from the repository root, with env (extra
-- variables). Returns a handle: pid (the program's own pid), wait(), kill(), stderr().
function M.spawn(argv, env)
  local dir = testenv.tmpdir()
  local parts = { "env" }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = sh(k .. "=" .. tostring(v))
  end
  for _, a in ipairs(argv) do
    parts[#parts + 1] = sh(a)
  end
  local inner = string.format("%s >%s/out 2>%s/err </dev/null & echo $! >%s/pid.tmp; mv %s/pid.tmp %s/pid; "
    .. "wait $!; echo $? >%s/rc.tmp; mv %s/rc.tmp %s/rc", table.concat(parts, " "), dir, dir, dir, dir, dir, dir,
    dir, dir)
  os.execute("cd " .. sh(testenv.root) .. " && sh -c " .. sh(inner) .. " >/dev/null 2>&1 &")
  local pid = tonumber(testenv.wait_for_file(dir .. "/pid"):match("%d+"))
  return setmetatable({ pid = pid, dir = dir }, Proc)
end

--- Waits for the process to end (up to timeout s, default 120); returns its exit status.
function Proc:wait(timeout)
  local rc = M.wait_until("process " .. self.pid .. " to end", function() return read_all(self.dir .. "/rc") end,
    timeout or 120)
  return tonumber(rc:match("%d+"))
end

--- Standard error so far.
function Proc:stderr()
  return read_all(self.dir .. "/err") or ""
end

--- SIGKILL, then waits for the exit to be recorded.
function Proc:kill()
  os.execute("kill -9 " .. self.pid)
  return self:wait(30)
end

return M
