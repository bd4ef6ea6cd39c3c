-- scripts/pipeline.lua offline: the whole sales job with the fakes of
-- salesengine.testing (no server, no database). The way to test a pipeline.
local testing = require "salesengine.testing"

local offline_sales = dofile("tests/lib/offline_sales.lua")
local URL = offline_sales.URL

-- The partner feed: n sales in assorted formats, then S2 again with a new amount.
local function feed(n)
  local sales = {}
  for i = 1, n do
    sales[i] = {
      id = "S" .. i,
      date = string.format("2026-01-%02dT10:%02d:00%s", 1 + i % 28, i % 60, (i % 2 == 0) and "+00:00" or ""),
      amount_usd = (i % 3 == 0) and string.format("%d.%02d", i, i % 100) or (i + 0.25),
      region = ({ " emea ", "Apac", "AMER  " })[1 + i % 3],
    }
  end
  sales[#sales + 1] = { id = "S2", date = "2026-02-01T00:00:00Z", amount_usd = "99.99", region = "latam" }
  return { sales = sales }
end

local run = offline_sales.run

describe("scripts/pipeline.lua offline", function()
  local transform

  setup(function()
    package.path = "scripts/?.lua;" .. package.path
    transform = require "transform"
  end)

  it("loads what row-by-row upserts would, updating only revenue on a repeated id", function()
    local data = feed(40)
    local http = testing.fake_http({ [URL] = { json = data } })
    local db = testing.fake_pg()
    local r = run({ http = http, pg = db })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(40, #db:rows("fact_sales"))
    for i = 1, 40 do
      local want = transform.transform(data.sales[i])
      if i == 2 then want.revenue = transform.transform(data.sales[41]).revenue end
      local got = db:row("fact_sales", { "sale_id" }, "S" .. i)
      assert.are.same({ want.sale_id, want.sale_date, want.revenue, want.region, "now()" },
        { got.sale_id, got.sale_date, got.revenue, got.region, got.loaded_at })
    end
    assert.are.equal(1, http:count(URL))
    assert.truthy(r.log.find("starting sales pipeline"))
    assert.are.equal(41, r.log.find("extracted").fields.records)
    assert.are.equal(41, r.log.find("transformed").fields.rows)
    local done = r.log.find("pipeline complete").fields
    assert.are.same({ 41, 41, 0, "ok" }, { done.extracted, done.loaded, done.rejected, done.identity })
  end)

  it("retries a failing API, then fails with the extract code naming the URL", function()
    local http = testing.fake_http({ [URL] = { { status = 503 } } })
    local db = testing.fake_pg()
    local r = run({ http = http, pg = db })
    assert.are.equal(3, r.code)
    assert.truthy(r.error:find(URL, 1, true), r.error)
    assert.matches("3 attempts", r.error)
    assert.are.same({ 3, 1 }, { http:count(URL), db.connects }) -- the database is reached first (issue 18)
  end)

  it("recovers when the API fails twice and then answers", function()
    local http = testing.fake_http({ [URL] = { { status = 503 }, { error = "connection reset", code = "RESET" },
      { json = feed(5) } } })
    local db = testing.fake_pg()
    local r = run({ http = http, pg = db })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(5, #db:rows("fact_sales"))
  end)

  it("keeps numeric ids exact: 2^53 + 1 and 2^53 are two sales, 1e20 stays 1e20 #engine", function()
    local body = '{"sales":[' ..
      '{"id":9007199254740993,"date":"2026-01-01T00:00:00Z","amount_usd":1.25,"region":"emea"},' ..
      '{"id":9007199254740992,"date":"2026-01-02T00:00:00Z","amount_usd":2.5,"region":"emea"},' ..
      '{"id":18446744073709551617,"date":"2026-01-03T00:00:00Z","amount_usd":3,"region":"emea"},' ..
      '{"id":1e20,"date":"2026-01-04T00:00:00Z","amount_usd":"4.00","region":"emea"}]}'
    local db = testing.fake_pg()
    local r = run({ http = testing.fake_http({ [URL] = { body = body } }), pg = db })
    assert.are.equal(0, r.code, r.error)
    local got = {}
    for _, row in ipairs(db:rows("fact_sales")) do
      got[row.sale_id] = row.revenue
    end
    assert.are.same({ ["9007199254740993"] = "1.25", ["9007199254740992"] = "2.50", ["18446744073709551617"] = "3.00",
      ["1e20"] = "4.00" }, got)
  end)

  it("fails on a response that is not JSON, naming the byte #engine", function()
    local body = '{"sales":[{"id":1,"amount_usd":NaN}]}'
    local r = run({ http = testing.fake_http({ [URL] = { body = body } }), pg = testing.fake_pg() })
    assert.are.equal(3, r.code)
    assert.matches("invalid JSON at byte 32: lexical error: invalid char in json text", r.error)
  end)

  it("fails on a response without a sales array", function()
    local r = run({ http = testing.fake_http({ [URL] = { json = { data = {} } } }), pg = testing.fake_pg() })
    assert.are.equal(3, r.code)
    assert.matches("has no records array 'sales'", r.error)
  end)

  it("stops with the usage code when a variable is missing", function()
    local r = run({ env = { WAREHOUSE_DSN = false }, http = testing.fake_http({}), pg = testing.fake_pg() })
    assert.are.equal(2, r.code)
    assert.are.equal("secret WAREHOUSE_DSN is not set (set WAREHOUSE_DSN, WAREHOUSE_DSN_FILE, "
      .. "or a systemd credential WAREHOUSE_DSN)", r.error)
  end)

  it("sends a bad record to etl_rejects and loads the rest", function()
    local data = feed(200)
    data.sales[57].date = "2026-13-45"
    local db = testing.fake_pg()
    local r = run({ http = testing.fake_http({ [URL] = { json = data } }), pg = db })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(199, #db:rows("fact_sales"))
    local rej = db:rows("etl_rejects")
    assert.are.equal(1, #rej)
    assert.are.same({ "S57", "transform" }, { rej[1].record_key, rej[1].stage })
    assert.matches("2026%-13%-45", rej[1].reason)
    assert.matches('"2026%-13%-45"', rej[1].raw)
  end)

  it("fails with the rejects code over SALES_MAX_REJECTS, loading nothing", function()
    local data = feed(200)
    data.sales[57].date = "2026-13-45"
    local db = testing.fake_pg()
    local r = run({ env = { SALES_MAX_REJECTS = "0" }, http = testing.fake_http({ [URL] = { json = data } }), pg = db })
    assert.are.equal(5, r.code)
    assert.matches("record 57 %(id S57%) is invalid", r.error)
    assert.are.equal(0, #db:rows("fact_sales"))
  end)

  it("writes nothing in a dry run", function()
    local db = testing.fake_pg()
    local r = run({ http = testing.fake_http({ [URL] = { json = feed(10) } }), pg = db,
      options = { dry_run = true } })
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 0, 0 }, { db.connects, #db.statements })
    assert.are.equal(11, r.log.find("dry run: would load").fields.rows)
  end)
end)
