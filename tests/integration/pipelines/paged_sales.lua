--- A paged variant of scripts/pipeline.lua for the fault specs: follows the
-- "next" URL of each page of {"sales": [...], "next": url} from SALES_API_URL,
-- through scripts/transform.lua, into fact_sales (scripts/schema.sql).
--   SALES_COMMIT      "run" (default) or "batch"
--   SALES_BATCH_SIZE  records per load batch (default 100)
local se = require "salesengine"
local etl = require "salesengine.etl"
local paginate = require "salesengine.paginate"

local root = se.getenv("SE_SOURCE_DIR")
package.path = root .. "/scripts/?.lua;" .. package.path
local transform = require "transform"

etl.run {
  name = "sales_paged",
  source = paginate.next_url {
    url = se.getenv("SALES_API_URL"),
    items = "sales",
    next = "next",
    timeout = 10,
    retry = { attempts = 3, base_delay = 0.05, multiplier = 2, jitter = "none" },
  },
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")(),
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("../../../scripts/schema.sql"),
  commit = os.getenv("SALES_COMMIT") or "run",
  batch_size = tonumber(os.getenv("SALES_BATCH_SIZE") or "100"),
}
