-- examples/readings_concurrent offline: a page-numbered API, page 1 first,
-- then the other pages through http.fetch_all, with the salesengine.testing fakes.
local testing = require "salesengine.testing"

local URL = "http://readings.test/readings"

local function page(n, total)
  local readings = {}
  for i = 1, 4 do
    readings[i] = { sensor = "s" .. i, at = string.format("2026-05-01T00:%02d:00Z", n), celsius = 20 + i / 10 }
  end
  return { json = { page = n, total_pages = total, readings = readings } }
end

describe("examples/readings_concurrent", function()
  it("loads every page once, in order", function()
    local routes = {}
    for n = 1, 5 do routes[URL .. "?page=" .. n] = page(n, 5) end
    local http = testing.fake_http(routes)
    local db = testing.fake_pg()
    local r = testing.run_script("examples/readings_concurrent/pipeline.lua", {
      env = { READINGS_API_URL = URL, WAREHOUSE_DSN = "fake" }, http = http, pg = db })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(20, #db:rows("readings"))
    for n = 1, 5 do assert.are.equal(1, http:count(URL .. "?page=" .. n)) end
    assert.are.same({ sensor = "S3", read_at = "2026-05-01T00:04:00+00:00", celsius = "20.3" },
      db:row("readings", { "sensor", "read_at" }, { "S3", "2026-05-01T00:04:00+00:00" }))
    assert.are.equal(5, r.log.find("pipeline complete").fields.pages)
  end)

  it("fails with the extract code when a page cannot be fetched", function()
    local routes = { [URL .. "?page=1"] = page(1, 3), [URL .. "?page=2"] = page(2, 3),
      [URL .. "?page=3"] = { status = 500 } }
    local db = testing.fake_pg()
    local r = testing.run_script("examples/readings_concurrent/pipeline.lua", {
      env = { READINGS_API_URL = URL, WAREHOUSE_DSN = "fake" }, http = testing.fake_http(routes), pg = db })
    assert.are.equal(3, r.code)
    assert.matches("HTTP 500", r.error)
    assert.are.equal(0, #db:rows("readings"))
  end)
end)
