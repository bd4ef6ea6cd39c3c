-- The sales transform: one record of the partner API in, one row of fact_sales out.
--
-- Edit this file to change how records are mapped; the next `salesengine scripts/pipeline.lua`
-- run picks the change up (no rebuild). Test it with: busted tests/spec/sales_transform_spec.lua
--
-- Every helper below raises a clear error naming the field and the bad value, e.g.
--   field 'date': invalid ISO-8601 date-time "2026-13-45" (month 13 out of range)
-- and the pipeline sets such a record aside as a reject instead of loading it.
local tx = require "salesengine.transform"

local M = {}

--- Maps one API record to a fact_sales row.
function M.transform(rec)
  if type(rec) ~= "table" then
    tx.fail(nil, rec, "record is not a JSON object")
  end

  local sale_id = tx.trim(tx.text(rec.id, "id"), "id") -- 17 and "17" both become "17"
  if sale_id == "" then
    tx.fail("id", rec.id, "must not be empty")
  end

  return {
    sale_id = sale_id,
    sale_date = tx.iso_datetime(rec.date, "date"),       -- no offset in the data means UTC
    revenue = tx.decimal(rec.amount_usd, 2, "amount_usd"), -- exact to the cent, as a string
    region = tx.upper(tx.trim(rec.region, "region"), "region"),
  }
end

--- Maps every record of an array, in order. Raises on the first bad record, naming its
-- position and id, e.g. record 3 (id "17"): field 'date': invalid ISO-8601 date-time ...
function M.transform_all(records)
  local rows = {}
  for i, rec in ipairs(records) do
    local ok, row = pcall(M.transform, rec)
    if not ok then
      local id = type(rec) == "table" and rec.id or nil
      local where = "record " .. i .. (id ~= nil and " (id " .. tx.render(id) .. ")" or "")
      error(tx.annotate(row, where), 0)
    end
    rows[#rows + 1] = row -- a transform that returns nil skips its record
  end
  return rows
end

return M
