-- Issue 15, point 4: --dry-run touches no database. WAREHOUSE_DSN may be
-- unset (a name ending in _DSN then reads as salesengine.DRY_RUN_DSN), no
-- connection is opened even when it is set, and an incremental pipeline's
-- window starts at its initial value, or at --since, saying so.
local testing = require "salesengine.testing"

local SALES_URL = "http://api.test/sales"

local function sales(n)
  local list = {}
  for i = 1, n do
    list[i] = { id = "S" .. i, date = "2026-03-0" .. (i % 9 + 1), amount_usd = "1.50", region = "emea" }
  end
  return list
end

describe("--dry-run", function()
  it("runs the sales pipeline without WAREHOUSE_DSN and connects to nothing", function()
    local db = testing.fake_pg()
    local r = testing.run_script("scripts/pipeline.lua", {
      env = { SALES_API_URL = SALES_URL, WAREHOUSE_DSN = false, WAREHOUSE_DSN_FILE = false,
        CREDENTIALS_DIRECTORY = false },
      http = testing.fake_http({ [SALES_URL] = { json = { sales = sales(5) } } }),
      pg = db, options = { dry_run = true } })
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 0, 0 }, { db.connects, #db.statements })
    assert.truthy(r.log.find("dry run: WAREHOUSE_DSN is not set; no database is used"))
    assert.are.equal(5, r.log.find("dry run: would load").fields.rows)
  end)

  it("still needs WAREHOUSE_DSN for a real run", function()
    local r = testing.run_script("scripts/pipeline.lua", {
      env = { SALES_API_URL = SALES_URL, WAREHOUSE_DSN = false, WAREHOUSE_DSN_FILE = false,
        CREDENTIALS_DIRECTORY = false },
      http = testing.fake_http({}), pg = testing.fake_pg() })
    assert.are.equal(2, r.code)
    assert.matches("^secret WAREHOUSE_DSN is not set", r.error)
  end)

  it("does not connect when WAREHOUSE_DSN is set either", function()
    local db = testing.fake_pg()
    local r = testing.run_script("scripts/pipeline.lua", {
      env = { SALES_API_URL = SALES_URL, WAREHOUSE_DSN = "host=db.example dbname=warehouse" },
      http = testing.fake_http({ [SALES_URL] = { json = { sales = sales(3) } } }),
      pg = db, options = { dry_run = true } })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(0, db.connects)
  end)

  describe("of an incremental pipeline", function()
    -- Runs examples/incremental_sales with options (and WAREHOUSE_DSN = dsn, unset by default); returns
    -- the result, the `since` values asked for, the fake database.
    local function run(options, dsn)
      local sinces = {}
      local http = testing.fake_http({})
      http.routes = setmetatable({}, { __index = function(_, url)
        return function()
          sinces[#sinces + 1] = url:match("since=([^&]+)"):gsub("%%3A", ":")
          return { json = { sales = {}, has_more = false } }
        end
      end })
      local db = testing.fake_pg()
      local r = testing.run_script("examples/incremental_sales/pipeline.lua", {
        env = { SALES_API_URL = "http://api.test/sales", WAREHOUSE_DSN = dsn or false }, http = http, pg = db,
        options = options })
      return r, sinces, db
    end

    it("starts at its initial value, reading no stored cursor", function()
      local r, sinces, db = run({ dry_run = true })
      assert.are.equal(0, r.code, r.error)
      assert.are.same({ "2026-01-01T00:00:00Z" }, sinces)
      assert.are.equal(0, db.connects)
      assert.truthy(r.log.find("dry run: the window starts at 2026-01-01T00:00:00Z (its initial value: a dry run " ..
        "reads no stored cursor; --since VALUE starts it elsewhere)"))
    end)

    it("or at --since", function()
      local r, sinces = run({ dry_run = true, since = "2026-03-01T08:00:00+02:00" })
      assert.are.equal(0, r.code, r.error)
      assert.are.same({ "2026-03-01T06:00:00Z" }, sinces)
      assert.truthy(r.log.find("dry run: the window starts at 2026-03-01T06:00:00Z (--since: a dry run reads no " ..
        "stored cursor)"))
    end)

    it("refuses --since that is no date-time, and --since without --dry-run", function()
      local r = run({ dry_run = true, since = "yesterday" })
      assert.are.equal(2, r.code)
      assert.matches("^%-%-since yesterday: .* %(the cursor of 'sales' is an ISO%-8601 date%-time%)$", r.error)
      r = run({ since = "2026-03-01" }, "host=db.example")
      assert.are.equal(2, r.code)
      assert.are.equal("--since only goes with --dry-run (a run starts from the stored cursor; to move it: " ..
        "salesengine state reset sales --cursor VALUE)", r.error)
    end)
  end)

  it("--since on a pipeline without incremental is a usage error", function()
    local r = testing.run_script("scripts/pipeline.lua", {
      env = { SALES_API_URL = SALES_URL, WAREHOUSE_DSN = false },
      http = testing.fake_http({ [SALES_URL] = { json = { sales = sales(1) } } }),
      pg = testing.fake_pg(), options = { dry_run = true, since = "2026-01-01" } })
    assert.are.equal(2, r.code)
    assert.are.equal("--since starts the window of an incremental pipeline; 'sales' has no 'incremental'", r.error)
  end)
end)
