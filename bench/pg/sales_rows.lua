--- Deterministic sales-shaped rows for the PostgreSQL benchmark: the shape
-- of fact_sales as the pipeline loads it (text id, ISO-8601 date string with
-- an offset, exact decimal revenue string, region).
local M = {}

local REGIONS = { "EMEA", "APAC", "AMER", "LATAM", "ANZ", "MEA" }
local OFFSETS = { "+00:00", "Z", "+05:30", "-04:00", "+09:00" }
local BASE = 1767225600 -- 2026-01-01T00:00:00Z

--- Row i of version v (v changes only the revenue).
function M.row(i, v)
  local cents = (i * 7919 + v * 104729) % 99999999 + 1
  return {
    sale_id = string.format("S%07d", i),
    sale_date = os.date("!%Y-%m-%dT%H:%M:%S", BASE + i * 37) .. OFFSETS[i % #OFFSETS + 1],
    revenue = string.format("%d.%02d", cents // 100, cents % 100),
    region = REGIONS[i % #REGIONS + 1],
  }
end

--- The same row as a COPY text line (none of the values needs escaping).
function M.copy_line(r)
  return r.sale_id .. "\t" .. r.sale_date .. "\t" .. r.revenue .. "\t" .. r.region .. "\n"
end

return M
