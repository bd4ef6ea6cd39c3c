--- Example 1: an API paginated by Link headers into a table with a composite key.
--
--   INVENTORY_API_URL=http://host/inventory WAREHOUSE_DSN=... salesengine examples/inventory_link/pipeline.lua
--
-- Each page is a JSON array of stock counts; the next page's URL is in the
-- response header `Link: <...>; rel="next"`, absent on the last page.
local se = require "salesengine"
local paginate = require "salesengine.paginate"
local etl = require "salesengine.etl"
local transform = require "transform"

etl.run {
  name = "inventory",
  source = paginate.link_header { url = se.getenv("INVENTORY_API_URL") },
  transform = transform.transform,
  key = function(rec) return tostring(rec.warehouse) .. "/" .. tostring(rec.sku) end,
  sink = { table = "inventory", key = { "warehouse", "sku" }, set = { loaded_at = "now()" } },
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("schema.sql"),
  max_rejects = 10,
}
