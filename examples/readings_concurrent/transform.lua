-- Sensor readings transform: one reading in, one row of readings out.
local tx = require "salesengine.transform"

local M = {}

function M.transform(rec)
  return {
    sensor = tx.upper(tx.trim(tx.required(rec, "sensor"), "sensor"), "sensor"),
    read_at = tx.iso_datetime(rec.at, "at"),
    celsius = tx.decimal(rec.celsius, 1, "celsius"),
  }
end

return M
