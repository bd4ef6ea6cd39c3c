--- Starts tests/fixtures/examples_api.py (the examples' partner API) for a spec.
--
--   local examples_fixture = dofile("tests/lib/examples_fixture.lua")
--   local api = examples_fixture.start()
--   api.url     -- "http://127.0.0.1:PORT"
--   api.log()   -- the requests seen: {path, start, end}
--   api.stop()
local testenv = dofile("tests/lib/testenv.lua")
local cjson = require "cjson"

local M = {}

function M.start()
  local dir = testenv.tmpdir()
  local proc = testenv.python(testenv.root .. "/tests/fixtures/examples_api.py", { "--port-file", dir .. "/port" })
  local port = tonumber(testenv.wait_for_file(dir .. "/port", 20))
  local api = { url = "http://127.0.0.1:" .. port }
  function api.log()
    local r = testenv.run({ "curl", "-sS", "--max-time", "10", api.url .. "/_log" })
    return cjson.decode(r.stdout)
  end
  function api.stop()
    proc:stop()
    testenv.rm_rf(dir)
  end
  return api
end

return M
