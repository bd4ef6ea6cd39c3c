--- Starts tests/fixtures/api_server.py (the fault-injecting partner API) for
-- a spec and talks to its control endpoints.
--
--   local api_fixture = require "api_fixture"   -- with tests/lib on package.path
--   local api = api_fixture.start{ root = dir }  -- root: static files (optional)
--   api.url          -- "http://127.0.0.1:PORT"
--   api.log()        -- the requests seen, decoded (see api_server.py)
--   api.count(path)  -- how many requests hit path (any query string)
--   api.reset()      -- forget the log and the per-URL fault counters
--   api.stop()
local cjson = require "cjson"

local M = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lib"
M.script = here .. "/../fixtures/api_server.py"

local testenv = dofile(here .. "/testenv.lua")
local shquote, read_all = testenv.shquote, testenv.try_read_file

--- Fetches a control endpoint (with the curl command-line tool).
local function control(url, method)
  return testenv.curl(method, url)
end

function M.start(opts)
  opts = opts or {}
  local dir = assert(io.popen("mktemp -d /tmp/se-api.XXXXXX")):read("l")
  local port_file = dir .. "/port"
  local cmd = string.format("%s %s --root %s --port-file %s >%s/server.log 2>&1 </dev/null & echo $!",
    testenv.python3, shquote(M.script), shquote(opts.root or dir), shquote(port_file), dir)
  local p = assert(io.popen(cmd))
  local pid = assert(tonumber(p:read("l")), "could not start the API fixture")
  p:close()
  local port
  for _ = 1, 400 do
    local s = read_all(port_file)
    port = s and tonumber(s:match("%d+"))
    if port then
      break
    end
    os.execute("sleep 0.05")
  end
  if not port then
    os.execute("kill " .. pid .. " 2>/dev/null")
    error("the API fixture did not start: " .. (read_all(dir .. "/server.log") or ""))
  end
  local api = { url = "http://127.0.0.1:" .. port, pid = pid, dir = dir }
  function api.log()
    return cjson.decode(control(api.url .. "/_log", "GET"))
  end
  function api.count(path)
    local n = 0
    for _, e in ipairs(api.log()) do
      if e.path == path then
        n = n + 1
      end
    end
    return n
  end
  function api.reset()
    control(api.url .. "/_reset", "POST")
  end
  function api.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")
    os.execute("rm -rf " .. shquote(dir))
  end
  return api
end

return M
