-- examples/readings_concurrent against the examples' API and PostgreSQL: a
-- page-numbered API fetched with several requests in flight.
local testenv = dofile("tests/lib/testenv.lua")
local examples_fixture = dofile("tests/lib/examples_fixture.lua")

describe("examples/readings_concurrent", function()
  local api, dsn

  setup(function()
    api = examples_fixture.start()
    dsn = testenv.fresh_db("example_readings")
  end)
  teardown(function() api.stop() end)

  it("loads every page, fetching several at once", function()
    local r = testenv.salesengine({ "examples/readings_concurrent/pipeline.lua" }, { env = {
      READINGS_API_URL = api.url .. "/readings?total=1000&size=100&delay=0.3", WAREHOUSE_DSN = dsn } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1000|8\n", testenv.psql(dsn, "SELECT count(*), count(DISTINCT sensor) FROM readings"))
    -- reading 1000: sensor S08 at 124 minutes, 15 + (1000 * 7919 % 200) / 10 degrees
    assert.are.equal("S08|2026-01-01 02:04:00+00|" .. string.format("%.1f", 15 + (1000 * 7919 % 200) / 10) .. "\n",
      testenv.psql(dsn, "SET timezone = 'UTC'; SELECT sensor, read_at, celsius FROM readings " ..
        "WHERE sensor = 'S08' ORDER BY read_at DESC LIMIT 1"))
    -- each page was asked for once, and some requests were in flight at the same time
    local seen, log = {}, api.log()
    for _, e in ipairs(log) do
      local page = tonumber(e.path:match("[?&]page=(%d+)"))
      seen[page] = (seen[page] or 0) + 1
    end
    for page = 1, 10 do assert.are.equal(1, seen[page], "page " .. page) end
    local overlapped = false
    for i = 1, #log do
      for j = i + 1, #log do
        if log[j].start < log[i]["end"] then overlapped = true end
      end
    end
    assert.is_true(overlapped)
    assert.matches("pages=10", r.stderr)
  end)
end)
