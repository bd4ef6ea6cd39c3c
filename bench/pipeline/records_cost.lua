--- What reading one body costs on the Lua side, without a database: every
-- record of URL streamed with http.records and mapped by scripts/transform.lua.
--   salesengine bench/pipeline/records_cost.lua URL [project]
-- project: "1" (default: records built as read) or "0" (every member built:
-- the switch docs/performance.md measures). Prints records, wall and CPU
-- seconds of the process.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "../../scripts/?.lua;" .. package.path
local http = require "salesengine.http"
local sys = require "salesengine.sys"
local transform = require "transform"

local url, project = arg[1], arg[2] ~= "0"
local t0, c0 = sys.monotonic(), os.clock()
local n = 0
local source = http.records(url, { records = "sales", project = project })
while true do
  local batch, err = source()
  if not batch then
    assert(err == nil, err)
    break
  end
  for _, rec in ipairs(batch) do
    local ok = pcall(transform.transform, rec)
    n = n + (ok and 1 or 0)
  end
end
print(string.format("records=%d project=%s wall_s=%.2f cpu_s=%.2f", n, tostring(project), sys.monotonic() - t0,
  os.clock() - c0))
