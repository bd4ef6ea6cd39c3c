-- Bad input (issue 7): what the partner API may send that is not what the
-- sales pipeline expects. A bad document fails the extract (exit 3) with a
-- message saying what is wrong and where, and touches no table; a bad record
-- becomes a reject (in etl_rejects, with the field and reason) while every
-- good record loads exactly. Never a crash, never a hang (every run is
-- bounded by a timeout).
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local cjson = require "cjson"

local PIPELINE = "scripts/pipeline.lua"

--- 50 good records and the table lines they load to (sale_id|date|revenue|region).
local function good_records()
  local items, lines = {}, {}
  for i = 1, 50 do
    items[i] = string.format('{"id":"G%02d","date":"2026-03-%02dT12:00:00Z","amount_usd":"%d.%02d","region":"emea"}',
      i, (i % 28) + 1, i * 3, i)
    lines[i] = string.format("G%02d|2026-03-%02d 12:00:00+00|%d.%02d|EMEA\n", i, (i % 28) + 1, i * 3, i)
  end
  return items, table.concat(lines)
end

describe("bad input", function()
  local dir, api, dsn

  sales_site.for_spec("bad_input", { drop = { "fact_sales", "etl_rejects" } },
    function(site) dir, api, dsn = site.dir, site.api, site.dsn end)

  --- Serves body as name and runs the pipeline on it (extra: options before the script).
  local function run(name, body, extra, env)
    testenv.write_file(dir .. "/" .. name, body)
    local args = {}
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    args[#args + 1] = PIPELINE
    local e = { SALES_API_URL = api.url .. "/" .. name, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.05",
      SALES_MAX_REJECTS = "100" }
    for k, v in pairs(env or {}) do e[k] = v end
    return testenv.salesengine(args, { env = e, timeout = 60 })
  end

  local function table_lines()
    if testenv.psql(dsn, "SELECT to_regclass('fact_sales') IS NULL") == "t\n" then
      return nil
    end
    return testenv.psql(dsn, [[SET TIME ZONE 'UTC';
      SELECT sale_id, sale_date, revenue, region FROM fact_sales ORDER BY sale_id COLLATE "C"]])
  end

  local function rejects()
    return testenv.psql(dsn, "SELECT record_key, stage, code, coalesce(field, '') FROM etl_rejects ORDER BY seq")
  end

  --- Runs a feed of the good records plus `bad` (JSON texts); expects exit 0, the good rows exactly, and
  -- the rejects listed as "key|stage|code|field" lines in order.
  local function expect_rejected(bad, want_rejects)
    local items, want = good_records()
    for _, b in ipairs(bad) do items[#items + 1] = b end
    local r = run("feed.json", '{"sales":[' .. table.concat(items, ",\n") .. "]}")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(want, table_lines())
    assert.are.equal(want_rejects, rejects())
    return r
  end

  it("fails on malformed JSON, saying where, and creates nothing", function()
    local cases = {
      ["trailing.json"] = { '{"sales":[]} x', "invalid JSON at byte 13: parse error: trailing garbage" },
      ["html.json"] = { "<html><body>502 Bad Gateway</body></html>", "invalid JSON at byte 1: lexical error" },
      ["rawnul.json"] = { '{"sales":[{"id":"S1","region":"e\0a"}]}',
        "invalid JSON at byte 32: lexical error: invalid character inside string" },
      ["vtab.json"] = { '{"sales":[]}\v', "invalid JSON at byte 12: a raw \\v byte is not JSON white space" },
    }
    for name, case in pairs(cases) do
      local sfile = dir .. "/summary.json"
      local r = run(name, case[1], { "--summary-json", sfile })
      assert.are.equal(3, r.code, name .. ": " .. r.stderr)
      assert.truthy(r.stderr:find("salesengine: GET " .. api.url .. "/" .. name .. " failed: " .. case[2], 1, true),
        name .. ": " .. r.stderr)
      assert.are.equal("JSON", cjson.decode(testenv.read_file(sfile)).error.code)
      assert.is_nil(table_lines())
    end
  end)

  it("retries a body that ends inside the document, then fails saying it was cut short", function()
    for name, body in pairs({ ["cut.json"] = '{"sales":[{"id":"S1","date":"2026-01-01"', ["empty.json"] = "" }) do
      local sfile = dir .. "/summary.json"
      local r = run(name, body, { "--summary-json", sfile })
      assert.are.equal(3, r.code, name .. ": " .. r.stderr)
      assert.truthy(r.stderr:find("salesengine: GET " .. api.url .. "/" .. name .. " failed after 3 attempts: " ..
        "the body ended inside the JSON document (cut short)", 1, true), name .. ": " .. r.stderr)
      assert.are.equal("PARTIAL", cjson.decode(testenv.read_file(sfile)).error.code)
      assert.is_nil(table_lines())
    end
  end)

  it("fails on a document of the wrong shape, saying what it found", function()
    local cases = {
      ['[{"id":"S1"}]'] = "the response is an array, not an object holding the records array 'sales'",
      ['"sales"'] = "the response is a string, not an object holding the records array 'sales'",
      ["null"] = "the response is null, not an object holding the records array 'sales'",
      ["42"] = "the response is a number, not an object holding the records array 'sales'",
      ['{"sales":"S1"}'] = "'sales' in the response is a string, not an array of records (records path 'sales')",
      ['{"sales":{"id":"S1"}}'] = "'sales' in the response is an object, not an array of records",
      ['{"sales":{}}'] = "'sales' in the response is an object, not an array of records",
      ['{"Sales":[]}'] = "the response has no records array 'sales'",
    }
    for body, want in pairs(cases) do
      local r = run("shape.json", body)
      assert.are.equal(3, r.code, body .. ": " .. r.stderr)
      assert.truthy(r.stderr:find("salesengine: GET " .. api.url .. "/shape.json failed: " .. want, 1, true),
        body .. ": " .. r.stderr)
      assert.is_nil(table_lines())
    end
  end)

  it("turns records with missing fields or wrong types into rejects and loads the rest exactly", function()
    local r = expect_rejected({
      '{"id":"B1","amount_usd":"1.00","region":"emea"}',
      '{"id":"B2","date":"2026-01-01","amount_usd":{"usd":1},"region":"emea"}',
      '{"id":true,"date":"2026-01-01","amount_usd":"1","region":"emea"}',
      '{"id":"B4","date":"2026-01-01","amount_usd":"abc","region":"emea"}',
      '{"id":"B5","date":20260101,"amount_usd":"1","region":"emea"}',
      '{"id":"B6","date":"2026-01-01","amount_usd":"1","region":null}',
      '"not an object"',
      "[1,2,3]",
    }, table.concat({
      "B1|transform|INVALID|date\n", "B2|transform|INVALID|amount_usd\n", "true|transform|INVALID|id\n",
      "B4|transform|INVALID|amount_usd\n", "B5|transform|INVALID|date\n", "B6|transform|INVALID|region\n",
      "|transform|INVALID|\n", "|transform|INVALID|id\n",
    }))
    assert.matches("level=warn msg=\"record rejected\" code=INVALID field=date key=B1 reason=\"field 'date': " ..
      "missing required value", r.stderr)
    -- the dead-letter keeps each record as it came
    assert.are.same({ id = "B2", date = "2026-01-01", amount_usd = { usd = 1 }, region = "emea" },
      cjson.decode(testenv.psql(dsn, "SELECT raw FROM etl_rejects WHERE record_key = 'B2'")))
  end)

  it("rejects absurd values with a specific reason and loads a 10 MB string intact", function()
    local big = string.rep("x", 10 * 1024 * 1024)
    local r = expect_rejected({
      '{"id":"A1","date":"99999-01-01T00:00:00Z","amount_usd":"1","region":"emea"}',
      '{"id":"A2","date":"2026-01-01","amount_usd":1e400,"region":"emea"}',
      '{"id":"A3","date":"2026-01-01","amount_usd":"1e400","region":"emea"}',
      '{"id":"A4","date":"2026-01-01","amount_usd":"99999999999999","region":"emea"}',
      '{"id":"A5","date":"2026-02-30","amount_usd":"1","region":"emea"}',
    }, table.concat({
      -- transform rejects come first: the load of a page follows its transform; the JSON number 1e400 is
      -- the exact 10^400 (kept as its text, not a float's infinity), too large for numeric(14,2) as "1e400" is
      "A1|transform|INVALID|date\n", "A5|transform|INVALID|date\n",
      "A2|load|22003|revenue\n", "A3|load|22003|revenue\n", "A4|load|22003|revenue\n",
    }))
    assert.matches('reason="field \'date\': invalid ISO%-8601 date%-time \\"99999%-01%-01T00:00:00Z\\"', r.stderr)
    assert.matches("numeric field overflow", r.stderr)

    local items = good_records()
    items[#items + 1] = '{"id":"BIG","date":"2026-01-01T00:00:00Z","amount_usd":"1","region":"' .. big .. '"}'
    r = run("big.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("51|10485760|t\n", testenv.psql(dsn, "SELECT count(*), max(length(region)), " ..
      "bool_and(region = 'EMEA' OR region = repeat('X', 10485760)) FROM fact_sales"))
  end)

  it("rejects a 10 MB key (too long for the primary key's index) and loads the rest exactly", function()
    local items, want = good_records()
    items[#items + 1] = '{"id":"' .. string.rep("k", 10 * 1024 * 1024) ..
      '","date":"2026-01-01T00:00:00Z","amount_usd":"1","region":"emea"}'
    local r = run("bigkey.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
    assert.are.equal(0, r.code, r.stderr:sub(1, 2000))
    assert.is_true(#r.stderr < 100000, "the log cuts the 10 MB key short: " .. #r.stderr .. " bytes")
    assert.matches("key=\"k+%.%.%.%(10485760 bytes%)\"", r.stderr)
    assert.are.equal(want, table_lines())
    assert.are.equal("10485760|load|54000\n", testenv.psql(dsn,
      "SELECT length(record_key), stage, code FROM etl_rejects"))
  end)

  it("rejects text that is not valid UTF-8 and loads the rest exactly", function()
    expect_rejected({
      '{"id":"U1","date":"2026-01-01","amount_usd":"1","region":"em\255ea"}',
      '{"id":"U2","date":"2026-01-01","amount_usd":"1","region":"\237\160\128"}', -- a UTF-16 surrogate
    }, "U1|load|22021|\nU2|load|22021|\n")
  end)

  it("rejects a NUL byte inside a value and loads the rest exactly", function()
    expect_rejected({ '{"id":"N1","date":"2026-01-01","amount_usd":"1","region":"em\\u0000ea"}' },
      "N1|load|INVALID|region\n")
  end)

  it("fails on JSON nested 100,000 deep without crashing", function()
    for _, body in ipairs({
      '{"meta":' .. string.rep("[", 100000) .. string.rep("]", 100000) .. ',"sales":[]}',
      '{"sales":[{"id":"S1","extra":' .. string.rep('{"a":', 100000) .. "1" .. string.rep("}", 100000) .. "}]}",
    }) do
      local r = run("deep.json", body)
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("invalid JSON at byte %d+: nested deeper than 1000 levels", r.stderr)
      assert.is_nil(table_lines())
    end
  end)

  it("fails on a response over the size limit, also when it is compressed or chunked", function()
    local items = good_records()
    testenv.write_file(dir .. "/large.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
    for _, q in ipairs({ "", "?gzip=1", "?chunked=1" }) do
      local sfile = dir .. "/summary.json"
      local args = { "--summary-json", sfile, PIPELINE }
      local r = testenv.salesengine(args, { timeout = 60, env = { SALES_MAX_BYTES = "2048",
        SALES_API_URL = api.url .. "/large.json" .. q, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.05" } })
      assert.are.equal(3, r.code, q .. ": " .. r.stderr)
      assert.truthy(r.stderr:find("salesengine: GET " .. api.url .. "/large.json" .. q ..
        " failed: response body exceeds the limit of 2048 bytes", 1, true), r.stderr)
      assert.are.equal("TOO_LARGE", cjson.decode(testenv.read_file(sfile)).error.code)
      assert.is_nil(table_lines())
    end
  end)
end)
