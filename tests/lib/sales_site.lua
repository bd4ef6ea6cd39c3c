--- The set-up the integration specs of the sales pipeline share: a
-- temporary folder that the fixture API serves, a fresh database, and the
-- environment the pipeline runs with against them.
--
--   local site = sales_site.for_spec("stream", { drop = { "fact_sales" } })
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

--- Inside a describe block: starts the site in setup (then calls
-- on_start(site), if given) and stops it in teardown; before each test
-- drops the tables opts.drop lists and, with opts.reset_api, clears the
-- API's log and faults. Returns the site, filled in by setup.
function M.for_spec(name, opts, on_start)
  local busted = require "busted" -- its hooks: a helper does not see the spec's globals
  local site = {}
  busted.setup(function()
    for k, v in pairs(M.start(name)) do
      site[k] = v
    end
    if on_start then
      on_start(site)
    end
  end)
  busted.teardown(function()
    site.stop()
  end)
  if opts.drop or opts.reset_api then
    busted.before_each(function()
      if opts.drop then
        testenv.psql(site.dsn, "DROP TABLE IF EXISTS " .. table.concat(opts.drop, ", "))
      end
      if opts.reset_api then
        site.api.reset()
      end
    end)
  end
  return site
end

return M
