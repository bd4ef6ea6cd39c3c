-- One body streamed (http.records) into fact_sales: faults in the middle of
-- the body, JSON Lines, a late invalid byte in a 100 MB body, records
-- without their key. tests/integration/pipelines/stream_sales.lua and
-- scripts/pipeline.lua against the fixture API and a real PostgreSQL.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local cjson = require "cjson"

local PIPELINE = "tests/integration/pipelines/stream_sales.lua"

--- n sales as JSON texts (every 9th id repeated at the end with a new amount)
-- and the table they leave as "sale_id|revenue|region" lines.
local function feed(n, salt)
  local items, last = {}, {}
  local function add(i, cents)
    items[#items + 1] = string.format(
      '{"id":"S%d","date":"2026-01-%02dT10:00:00Z","amount_usd":"%d.%02d","region":" emea ","note":"%s"}',
      i, 1 + i % 28, cents // 100, cents % 100, salt or "x")
    last[i] = string.format("S%d|%d.%02d|EMEA\n", i, cents // 100, cents % 100)
  end
  for i = 1, n do add(i, i * 7 + 100) end
  for i = 9, n, 9 do add(i, i * 3 + 5) end
  local ids = {}
  for i in pairs(last) do ids[#ids + 1] = i end
  table.sort(ids, function(a, b) return ("S" .. a) < ("S" .. b) end)
  local lines = {}
  for _, i in ipairs(ids) do lines[#lines + 1] = last[i] end
  return items, table.concat(lines)
end

local function table_lines(dsn)
  return testenv.psql(dsn, [[SELECT sale_id, revenue::text, region FROM fact_sales ORDER BY sale_id COLLATE "C"]])
end

describe("a streamed body", function()
  local dir, api, dsn

  local site = sales_site.for_spec("stream", { drop = { "fact_sales", "etl_rejects" }, reset_api = true },
    function(s) dir, api, dsn = s.dir, s.api, s.dsn end)

  local function run(url, env, script)
    env = site.env(url, env)
    return testenv.salesengine({ script or PIPELINE }, { env = env, timeout = 120 })
  end

  local items, want = feed(12000)
  local body = '{"meta":{"source":"fixture"},"sales":[\n' .. table.concat(items, ",\n") .. "\n],\"next\":null}"

  it("is retried after a cut, a reset or a stall past the first batches, and the table ends exact", function()
    testenv.write_file(dir .. "/sales.json", body)
    local at = math.floor(#body * 0.6) -- past 7,000 records: batches of 1,000 were handed on
    for _, case in ipairs({
      { fault = "cut", commit = "run" }, { fault = "reset", commit = "run" },
      { fault = "stall&seconds=8", commit = "run" },
      { fault = "cut", commit = "batch" }, { fault = "reset", commit = "batch" },
    }) do
      testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales")
      api.reset()
      local url = string.format("%s/sales.json?fault=%s&at=%d&times=1", api.url, case.fault, at)
      local r = run(url, { SALES_COMMIT = case.commit })
      local what = case.fault .. " (commit " .. case.commit .. ")"
      assert.are.equal(0, r.code, what .. ": " .. r.stderr)
      assert.matches("HTTP request failed, retrying", r.stderr, 1, what)
      assert.are.equal(2, api.count("/sales.json"), what)
      assert.are.equal(want, table_lines(dsn), what)
      assert.matches("msg=extracted records=13333", r.stderr, 1, what) -- each record once
    end
  end)

  it("fails, and leaves the table as it was, when the next attempt's body differs before the resume point",
    function()
      local other = body:gsub('"note":"x"', '"note":"y"', 1)
      testenv.write_file(dir .. "/sales.json", body)
      testenv.write_file(dir .. "/other.json", other)
      testenv.psql(dsn, "CREATE TABLE fact_sales (sale_id text PRIMARY KEY, sale_date timestamptz NOT NULL, " ..
        "revenue numeric(14, 2) NOT NULL, region text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now()); " ..
        "INSERT INTO fact_sales VALUES ('OLD', now(), 1, 'X')")
      local url = string.format("%s/sales.json?fault=cut&at=%d&times=1&alt=other.json", api.url,
        math.floor(#body * 0.6))
      local r = run(url)
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("differs from the earlier attempt's in its first %d+ bytes, after %d+ records were " ..
        "handed on: they cannot be taken back", r.stderr)
      assert.are.equal("OLD|1.00|X\n", table_lines(dsn))
    end)

  it("reads JSON Lines the same way", function()
    testenv.write_file(dir .. "/sales.ndjson", table.concat(items, "\n") .. "\n")
    local r = run(api.url .. "/sales.ndjson")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(want, table_lines(dsn))
  end)

  it("finds records under a nested path", function()
    testenv.write_file(dir .. "/nested.json", '{"data":{"n":1,"items":[' .. table.concat(items, ",") .. "]}}")
    local r = run(api.url .. "/nested.json", { SALES_RECORDS = "data.items" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(want, table_lines(dsn))
  end)

  it("fails on an invalid byte late in a 100 MB body with its offset, leaving the table as it was", function()
    local record = '{"id":"S%d","date":"2026-01-01T00:00:00Z","amount_usd":"1.50","region":"emea",' ..
      '"pad":"' .. string.rep("p", 100) .. '"}'
    local mb = os.getenv("SE_SANITIZED") and 10 or 100 -- the sanitizer build: the same paths, 10 MB
    local parts, size, i = { '{"sales":[' }, 10, 0
    while size < mb * 1024 * 1024 do
      i = i + 1
      parts[#parts + 1] = string.format(record, i) .. ","
      size = size + #parts[#parts]
    end
    local head = table.concat(parts)
    local offset = #head + 1 -- the byte after the last comma
    testenv.write_file(dir .. "/big.json", head .. "@]}")
    testenv.psql(dsn, "CREATE TABLE fact_sales (sale_id text PRIMARY KEY, sale_date timestamptz NOT NULL, " ..
      "revenue numeric(14, 2) NOT NULL, region text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now()); " ..
      "INSERT INTO fact_sales VALUES ('OLD', now(), 1, 'X')")
    local r = run(api.url .. "/big.json", { SALES_BATCH = "10000" }, "scripts/pipeline.lua")
    assert.are.equal(3, r.code, r.stderr)
    assert.truthy(r.stderr:find("failed: invalid JSON at byte " .. offset .. ": lexical error", 1, true),
      "offset " .. offset .. ": " .. r.stderr)
    assert.are.equal("OLD|1.00|X\n", table_lines(dsn))
  end)

  it("makes a record without a usable id one reject, in the shipped pipeline", function()
    local list = { items[1], items[2],
      '{"date":"2026-01-01T00:00:00Z","amount_usd":"1","region":"emea"}',
      '{"id":null,"date":"2026-01-01T00:00:00Z","amount_usd":"1","region":"emea"}',
      '{"id":{"n":1},"date":"2026-01-01T00:00:00Z","amount_usd":"1","region":"emea"}',
      items[3] }
    testenv.write_file(dir .. "/noid.json", '{"sales":[' .. table.concat(list, ",") .. "]}")
    local r = run(api.url .. "/noid.json", { SALES_MAX_REJECTS = "5" }, "scripts/pipeline.lua")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("3\n", testenv.psql(dsn, "SELECT count(*) FROM fact_sales"))
    assert.are.equal(table.concat({
      "record key 'id' is missing|id\n",
      "record key 'id' is null|id\n",
      "record key 'id' is an object or array, not a string or a number|id\n",
    }), testenv.psql(dsn, "SELECT reason, field FROM etl_rejects ORDER BY seq"))
    -- the dead-letter keeps the whole record, also the members nobody read
    assert.are.same({ id = { n = 1 }, date = "2026-01-01T00:00:00Z", amount_usd = "1", region = "emea" },
      cjson.decode(testenv.psql(dsn, "SELECT raw FROM etl_rejects WHERE seq = 3")))
  end)
end)
