--- Example 3: a page-numbered API fetched concurrently.
--
--   READINGS_API_URL=http://host/readings WAREHOUSE_DSN=... salesengine examples/readings_concurrent/pipeline.lua
--
-- Page 1 says how many pages there are ({"total_pages": T, "readings": [...]});
-- pages 2..T are then fetched 4 at a time, and handed to the runner in page
-- order while the next ones download.
local se = require "salesengine"
local http = require "salesengine.http"
local paginate = require "salesengine.paginate"
local etl = require "salesengine.etl"
local transform = require "transform"

local api_url = se.getenv("READINGS_API_URL")
local first, err, code = http.get_json(api_url, { query = { page = 1 } })
if first == nil then
  se.fail("extract", err, code)
end
local sources = { etl.pages({ first.readings }) }
if first.total_pages > 1 then
  sources[2] = paginate.page_number { url = api_url, items = "readings", start = 2, count = first.total_pages - 1,
    concurrency = 4 }
end

etl.run {
  name = "readings",
  source = etl.chain(table.unpack(sources)),
  transform = transform.transform,
  key = function(rec) return tostring(rec.sensor) .. "@" .. tostring(rec.at) end,
  sink = { table = "readings", key = { "sensor", "read_at" } },
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("schema.sql"),
  max_rejects = 10,
}
