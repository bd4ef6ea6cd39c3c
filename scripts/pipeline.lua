--- The sales pipeline: partner API -> transform.lua -> fact_sales.
--
--   SALES_API_URL=https://partner.example/api/sales \
--   WAREHOUSE_DSN='host=... dbname=warehouse' salesengine scripts/pipeline.lua
--
-- Extract: GET the API (30 s without a byte = a stall, 3 attempts with
-- exponential backoff); the "sales" array streams in batches while the body
-- arrives, so memory stays flat however many sales it holds. With
-- SALES_PAGE_SIZE=M it pages instead: SALES_API_URL?page=N&per_page=M from
-- N = 1 until a page holds fewer than M sales or says "next": null; then
-- `salesengine --partition I/N` splits the job by pages (docs/scale-out.md). Transform:
-- transform.lua, one record at a time; a record it rejects goes to the
-- etl_rejects table with the reason. Load:
-- upsert into fact_sales keyed by sale_id, all in one transaction, so a failed
-- run leaves the table as it was and a re-run is always safe.
-- More than SALES_MAX_REJECTS rejected records (default 1%) fail the run.
-- SALES_MAX_BYTES=B refuses a response body over B bytes (default: no limit
-- on the streamed body; 256 MiB a page).
local config = require "salesengine.config"
local http = require "salesengine.http"
local paginate = require "salesengine.paginate"
local cjson = require "cjson"
local etl = require "salesengine.etl"
local log = require "salesengine.log"
local transform = require "transform"

-- Checked before any work: a mistake exits 2 naming the variable.
local api_url = config.url("SALES_API_URL")
local dsn = config.dsn("WAREHOUSE_DSN") -- a secret: or WAREHOUSE_DSN_FILE, or a systemd credential
-- Seconds before the first retry; doubles on each attempt (2 s, 4 s).
local retry_delay = config.number("SALES_RETRY_DELAY", 2, { min = 0 })
local max_rejects = config.rejects_limit("SALES_MAX_REJECTS") -- nil: the runner's default, 1%
-- Sales per page when the API is read page by page; false: one body.
local page_size = config.number("SALES_PAGE_SIZE", false, { min = 1, integer = true })
local max_bytes = config.number("SALES_MAX_BYTES", false, { min = 1, integer = true })

-- The partner API's client: every request of the run starts from these.
local api = http.new {
  timeout = 30,
  retry = { attempts = 3, base_delay = retry_delay, multiplier = 2, jitter = "none" },
  max_size = max_bytes or nil,
}
local source
if page_size then
  source = paginate.page_number {
    client = api, url = api_url, items = "sales", param = "page", size_param = "per_page", size = page_size,
    short_is_last = true,
    has_more = function(page) return page.next ~= cjson.null end, -- "next": null ends the pages
  }
else
  source = api:records(api_url, { records = "sales" })
end

log.info("starting sales pipeline")

etl.run {
  name = "sales",
  source = source,
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")(), -- fact_sales keyed by sale_id: scripts/sales_sink.lua
  db = dsn,
  setup = etl.read_beside("schema.sql"),
  max_rejects = max_rejects,
}
