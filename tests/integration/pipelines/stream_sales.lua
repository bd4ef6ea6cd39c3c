--- A variant of scripts/pipeline.lua for the streaming specs: the same one
-- body ({"sales": [...]} or JSON Lines), scripts/transform.lua and
-- fact_sales, with the knobs the specs turn.
--   SALES_COMMIT      "run" (default) or "batch"
--   SALES_BATCH       records per streamed batch (default 1000)
--   SALES_TIMEOUT     seconds without a byte before an attempt fails (default 2)
--   SALES_RECORDS     the records path (default "sales")
local se = require "salesengine"
local etl = require "salesengine.etl"
local http = require "salesengine.http"

local root = se.getenv("SE_SOURCE_DIR")
package.path = root .. "/scripts/?.lua;" .. package.path
local transform = require "transform"

etl.run {
  name = "sales_stream",
  source = http.records(se.getenv("SALES_API_URL"), {
    records = os.getenv("SALES_RECORDS") or "sales",
    batch = tonumber(os.getenv("SALES_BATCH") or "1000"),
    timeout = tonumber(os.getenv("SALES_TIMEOUT") or "2"),
    retry = { attempts = 3, base_delay = 0.05, multiplier = 2, jitter = "none" },
  }),
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")(),
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("../../../scripts/schema.sql"),
  commit = os.getenv("SALES_COMMIT") or "run",
  batch_size = 1000,
}
