--- The paged sales pipeline of the end-to-end benchmark (bench/run.sh): the
-- partner API in pages of 10,000 -> scripts/transform.lua -> fact_sales,
-- on the etl runner. Environment:
--   SALES_API_BASE   e.g. http://127.0.0.1:8080/v0 (pages under /pages, page-numbered under /sales)
--   WAREHOUSE_DSN    libpq connection string
--   BENCH_SHAPE      "numbered" (default: ?page=K with the page count known, the next two pages
--                    fetched while one is transformed and loaded) or "next" (follow each page's
--                    "next" URL, one page at a time). The one-body shape is scripts/pipeline.lua.
--   BENCH_PAGES      page count for "numbered"
--   BENCH_SKIP_UNCHANGED  "0" turns skip_unchanged off (default on)
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "../../scripts/?.lua;" .. package.path
local se = require "salesengine"
local paginate = require "salesengine.paginate"
local etl = require "salesengine.etl"
local transform = require "transform"

local base = se.getenv("SALES_API_BASE")
local shape = os.getenv("BENCH_SHAPE") or "numbered"
local retry = { attempts = 3, base_delay = 0.2 }

local source
if shape == "next" then
  source = paginate.next_url {
    url = base .. "/pages/p1.json", items = "sales", retry = retry,
  }
elseif shape == "numbered" then
  source = paginate.page_number {
    url = base .. "/sales", items = "sales", count = tonumber(se.getenv("BENCH_PAGES")), concurrency = 2,
    retry = retry,
  }
else
  error("BENCH_SHAPE must be next or numbered")
end

etl.run {
  name = "bench_sales",
  source = source,
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")({ skip_unchanged = os.getenv("BENCH_SKIP_UNCHANGED") ~= "0" }),
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("../../scripts/schema.sql"),
  max_rejects = 0,
  progress = false,
}
