-- Fault suite, API side (issue 7): the real sales pipeline (scripts/pipeline.lua,
-- one GET) and its paged variant (tests/integration/pipelines/paged_sales.lua)
-- against the fault-injecting fixture API. After every fault the table equals
-- the expected table exactly, or the run fails clearly and leaves it exactly
-- as it was (loaded_at included), and a re-run makes it exact.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local F = dofile("tests/lib/fault_helpers.lua")
local cjson = require "cjson"

local PIPELINE = "scripts/pipeline.lua"
local PAGED = "tests/integration/pipelines/paged_sales.lua"

describe("API faults", function()
  local dir, api, dsn
  -- 1210 records: the pipeline's second 1000-record batch holds ids 1001-1100
  -- and every repeat, so some repeats share a batch with their first
  -- occurrence and some come a batch later; the paged runs use 100 per page.
  local v1, v2 = F.records(1100, 1), F.records(1100, 2)

  sales_site.for_spec("faults_api", {}, function(site)
    dir, api, dsn = site.dir, site.api, site.dsn
    testenv.write_file(dir .. "/v1.json", F.feed(v1))
    testenv.write_file(dir .. "/v2.json", F.feed(v2))
  end)

  --- Starts each case from fact_sales = v1 loaded; returns its snapshot.
  local function load_v1()
    testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales")
    local r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v1.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1 }), F.table_lines(dsn))
    api.reset()
    return F.snapshot(dsn)
  end

  local function summary(path)
    return cjson.decode(testenv.read_file(path))
  end

  it("rides out 503s within the retry budget and loads exactly", function()
    load_v1()
    local r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v2.json?fail=2", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    assert.are.equal(3, api.count("/v2.json"))
    local _, retries = r.stderr:gsub('msg="HTTP request failed, retrying"[^\n]*code=HTTP_503', "")
    assert.are.equal(2, retries, r.stderr)
  end)

  it("waits as a 429's Retry-After says and loads exactly", function()
    load_v1()
    local r = F.run(PIPELINE, {
      SALES_API_URL = api.url .. "/v2.json?fault=status&code=429&times=1&retry_after=1", WAREHOUSE_DSN = dsn,
    })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    local log = api.log()
    assert.are.equal(2, #log)
    assert.is_true(log[2].time - log[1].time >= 0.9, "Retry-After: 1 was not honoured")
    assert.matches("code=HTTP_429", r.stderr)
  end)

  it("fails when the API is down longer than the budget, leaving the table untouched", function()
    local before = load_v1()
    local url = api.url .. "/v2.json?status=503"
    local sfile = dir .. "/summary.json"
    local r = F.run(PIPELINE, { SALES_API_URL = url, WAREHOUSE_DSN = dsn }, { "--summary-json", sfile })
    assert.are.equal(3, r.code, r.stderr)
    assert.truthy(r.stderr:find("salesengine: GET " .. url .. " failed after 3 attempts: HTTP 503", 1, true),
      r.stderr)
    assert.are.equal(3, api.count("/v2.json"))
    assert.are.equal(before, F.snapshot(dsn))
    local s = summary(sfile)
    assert.are.same({ "failed", "extract", "HTTP_503", false }, { s.status, s.error.kind, s.error.code, s.committed })
    -- the re-run once the API is back makes it exact
    r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v2.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
  end)

  it("retries responses cut short, and fails cleanly when every one is", function()
    load_v1()
    local r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v2.json?fault=truncate&times=2", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    assert.are.equal(3, api.count("/v2.json"))

    local before = load_v1()
    local sfile = dir .. "/summary.json"
    r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v2.json?fault=truncate", WAREHOUSE_DSN = dsn },
      { "--summary-json", sfile })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("failed after 3 attempts", r.stderr)
    assert.are.equal("PARTIAL", summary(sfile).error.code)
    assert.are.equal(before, F.snapshot(dsn))
  end)

  it("retries connections reset before or during the body, and fails cleanly when every one is", function()
    for _, fault in ipairs({ "reset", "reset_body" }) do
      load_v1()
      local url = api.url .. "/v2.json?fault=" .. fault .. "&times=2"
      local r = F.run(PIPELINE, { SALES_API_URL = url, WAREHOUSE_DSN = dsn })
      assert.are.equal(0, r.code, fault .. ": " .. r.stderr)
      assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
      assert.are.equal(3, api.count("/v2.json"))
    end
    local before = load_v1()
    local sfile = dir .. "/summary.json"
    local r = F.run(PIPELINE, { SALES_API_URL = api.url .. "/v2.json?fault=reset", WAREHOUSE_DSN = dsn },
      { "--summary-json", sfile })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("failed after 3 attempts", r.stderr)
    assert.truthy(({ RECV = true, EMPTY_REPLY = true, SEND = true })[summary(sfile).error.code],
      summary(sfile).error.code)
    assert.are.equal(before, F.snapshot(dsn))
  end)

  describe("one page of invalid JSON in the middle of a paged run", function()
    local function paged(commit, url)
      return F.run(PAGED, { SALES_API_URL = url, WAREHOUSE_DSN = dsn, SALES_COMMIT = commit,
        SALES_BATCH_SIZE = "100", SE_SOURCE_DIR = testenv.root })
    end

    it("one-transaction mode: fails clearly and commits nothing of the run; a re-run is exact", function()
      local before = load_v1()
      local first = F.write_pages(dir, api.url, v2, 100, { [3] = "fault=invalid_json" })
      local r = paged("run", first)
      assert.are.equal(3, r.code, r.stderr)
      assert.truthy(r.stderr:find("salesengine: GET " .. api.url .. "/page-3.json?fault=invalid_json: invalid JSON",
        1, true), r.stderr)
      assert.are.equal(before, F.snapshot(dsn))
      first = F.write_pages(dir, api.url, v2, 100)
      r = paged("run", first)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    end)

    it("batch mode: keeps exactly the pages before the bad one; a re-run is exact", function()
      load_v1()
      local first = F.write_pages(dir, api.url, v2, 100, { [3] = "fault=invalid_json" })
      local r = paged("batch", first)
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("invalid JSON", r.stderr)
      assert.are.equal(F.expected({ v1, v2 }, 200), F.table_lines(dsn))
      first = F.write_pages(dir, api.url, v2, 100)
      r = paged("batch", first)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(F.expected({ v1, v2 }), F.table_lines(dsn))
    end)
  end)
end)
