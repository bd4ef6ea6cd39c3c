--- Benchmark client: fetches every URL listed in a file with salesengine.http
-- and prints "pages bytes seconds". Run by bench/http_bench.sh.
--   salesengine bench/http/fetch.lua URL_FILE sequential|concurrent [CONCURRENCY]
local http = require "salesengine.http"

local url_file, mode, concurrency = ...
local urls = {}
for line in io.lines(url_file) do
  urls[#urls + 1] = line
end

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

local bytes, pages = 0, 0
local t0 = now()
if mode == "sequential" then
  for _, url in ipairs(urls) do
    local resp = assert(http.get(url))
    bytes, pages = bytes + #resp.body, pages + 1
  end
else
  for _, resp, err in http.fetch_all(urls, { concurrency = tonumber(concurrency) or 4 }) do
    assert(resp, err)
    bytes, pages = bytes + #resp.body, pages + 1
  end
end
print(string.format("%d %d %.6f", pages, bytes, now() - t0))
