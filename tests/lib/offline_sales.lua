--- scripts/pipeline.lua run offline (salesengine.testing's fakes) against the partner API at
-- M.URL, for the specs of the sales pipeline's own behaviour.
local testing = require "salesengine.testing"

local M = {}

M.URL = "http://partner.test/api/sales"

--- Runs scripts/pipeline.lua with opts.http and opts.pg (fakes), opts.env added to the
-- pipeline's environment and opts.options (the host's); returns testing.run_script's result.
function M.run(opts)
  local env = { SALES_API_URL = M.URL, WAREHOUSE_DSN = "host=fake dbname=warehouse", SALES_RETRY_DELAY = "0" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  return testing.run_script("scripts/pipeline.lua", { env = env, http = opts.http, pg = opts.pg,
    options = opts.options })
end

return M
