--- The set-up the integration specs of the sales pipeline share: a
-- temporary folder that the fixture API serves, a fresh database, and the
-- environment the pipeline runs with against them.
--
--   local site
--   setup(function() site = sales_site.start("stream") end)
--   teardown(function() site.stop() end)
--   ... testenv.salesengine({ "scripts/pipeline.lua" }, { env = site.env(site.api.url .. "/sales.json") })
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")

local M = {}

--- Starts a site for the spec named name: site.dir (served by site.api),
-- site.dsn, site.password_dsn and site.password (testenv.fresh_db's).
function M.start(name)
  local site = { dir = testenv.tmpdir() }
  site.api = api_fixture.start({ root = site.dir })
  site.dsn, site.password_dsn, site.password = testenv.fresh_db(name)

  --- The pipeline's environment: SALES_API_URL = url, WAREHOUSE_DSN, a
  -- short SALES_RETRY_DELAY, then extra's variables (which win).
  function site.env(url, extra)
    local env = { SALES_API_URL = url, WAREHOUSE_DSN = site.dsn, SALES_RETRY_DELAY = "0.05" }
    for k, v in pairs(extra or {}) do
      env[k] = v
    end
    return env
  end

  --- Stops the API and removes the folder (the database stays for a post-mortem).
  function site.stop()
    site.api.stop()
    testenv.rm_rf(site.dir)
  end

  return site
end

return M
