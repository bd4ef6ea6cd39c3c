--- The sales pipeline: partner API -> transform.lua -> fact_sales.
--
--   SALES_API_URL=https://partner.example/api/sales \
--   WAREHOUSE_DSN='host=... dbname=warehouse' salesengine scripts/pipeline.lua
--
-- Extract: GET the API (30 s timeout, 3 attempts with exponential backoff),
-- take the "sales" array. Transform: transform.lua, one record at a time.
-- Load: upsert into fact_sales keyed by sale_id, all in one transaction, so a
-- failed run leaves the table as it was and a re-run is always safe.
local se = require "salesengine"
local http = require "salesengine.http"
local pg = require "salesengine.pg"
local log = require "salesengine.log"
local transform = require "transform"

local api_url = se.getenv("SALES_API_URL")
local dsn = se.getenv("WAREHOUSE_DSN")
-- Seconds before the first retry; doubles on each attempt (2 s, 4 s).
local retry_delay = tonumber(os.getenv("SALES_RETRY_DELAY") or "2")

local function here(file)
  local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  return dir .. file
end

log.info("starting sales pipeline")

-- Extract
local body, err, code = http.get_json(api_url, {
  timeout = 30,
  retry = { attempts = 3, base_delay = retry_delay, multiplier = 2, jitter = "none" },
})
if not body then
  se.fail("extract", err, code)
end
local records = body.sales
if type(records) ~= "table" or (next(records) ~= nil and records[1] == nil) then
  se.fail("extract", "the API response has no \"sales\" array")
end
log.info("extracted", { records = #records })

-- Transform
local rows = {}
for i, rec in ipairs(records) do
  local ok, row = pcall(transform.transform, rec)
  if not ok then
    local id = type(rec) == "table" and rec.id or "?"
    se.fail("rejects", string.format("record %d (id %s) is invalid: %s", i, tostring(id), tostring(row)))
  end
  rows[i] = row
end
log.info("transformed", { rows = #rows })

-- Load
local conn, cerr, ccode = pg.connect(dsn)
if not conn then
  se.fail("load", cerr, ccode)
end
local schema = assert(io.open(here("schema.sql"))):read("a")
local stats
local ok, terr, tcode = conn:transaction(function(c)
  local r, e, k = c:exec(schema)
  if not r then return nil, e, k end
  stats, e, k = c:upsert("fact_sales", rows, {
    key = { "sale_id" },
    columns = { "sale_id", "sale_date", "revenue", "region" },
    update = { "revenue" },
    set = { loaded_at = "now()" },
  })
  if not stats then return nil, e, k end
  return true
end)
conn:close()
if not ok then
  se.fail("load", terr, tcode)
end
log.info("loaded", { table = "fact_sales", inserted = stats.inserted, updated = stats.updated })
log.info("pipeline complete", { records = #records, loaded = #rows })
