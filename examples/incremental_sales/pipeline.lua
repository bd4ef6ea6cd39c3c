--- The sales pipeline, incremental: only what is new since the last run.
--
--   SALES_API_URL=http://partner.example/sales \
--   WAREHOUSE_DSN='host=... dbname=warehouse' salesengine examples/incremental_sales/pipeline.lua
--
-- The partner API answers GET SALES_API_URL?since=ISO&page=N&size=S with
-- {"sales": [...], "has_more": bool}: the sales dated at or after `since`,
-- oldest first. The pipeline's cursor is the newest `date` it has loaded; the
-- next run asks from that cursor minus SALES_LAG (default "1 day"), so sales
-- that arrive late, dated up to a day back, are still picked up; the upsert
-- makes the overlap harmless. Transform and table are the ones of scripts/.
--
-- SALES_COMMIT_EVERY=N commits after every N records, and a run that dies is
-- resumed from the last committed page. SALES_LOCK_WAIT=S makes a second,
-- concurrent run wait up to S seconds (0: no limit) instead of stopping at once.
-- `salesengine --full-refresh ...` reloads from SALES_INITIAL; `salesengine
-- state show sales` tells where the cursor is. See docs/lua-api.md.
local se = require "salesengine"
local etl = require "salesengine.etl"
local paginate = require "salesengine.paginate"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../scripts/?.lua;" .. package.path
local transform = require "transform"

local api_url = se.getenv("SALES_API_URL")
local dsn = se.getenv("WAREHOUSE_DSN")
local page_size = tonumber(os.getenv("SALES_PAGE_SIZE") or "500")
local commit_every = tonumber(os.getenv("SALES_COMMIT_EVERY") or "")
local lock_wait = tonumber(os.getenv("SALES_LOCK_WAIT") or "")
local retry_delay = tonumber(os.getenv("SALES_RETRY_DELAY") or "2")

etl.run {
  name = "sales",
  incremental = {
    field = "date",
    initial = os.getenv("SALES_INITIAL") or "2026-01-01T00:00:00Z",
    lag = os.getenv("SALES_LAG") or "1 day",
    resume = "page",
    wait = lock_wait ~= nil,
    wait_timeout = lock_wait,
  },
  source = function(window)
    return paginate.page_number {
      url = api_url,
      query = { since = window.since, size = page_size },
      start = window.page,
      items = "sales",
      has_more = "has_more",
      timeout = 30,
      retry = { attempts = 3, base_delay = retry_delay, multiplier = 2, jitter = "none" },
    }
  end,
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")(),
  commit = commit_every and "batch" or "run",
  batch_size = commit_every,
  db = dsn,
  setup = etl.read_beside("../../scripts/schema.sql"),
  max_rejects = os.getenv("SALES_MAX_REJECTS"),
}
