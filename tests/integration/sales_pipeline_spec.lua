-- End to end: the sales job (scripts/pipeline.lua) over loopback against a
-- fixture API and a real PostgreSQL database.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local F = dofile("tests/lib/fault_helpers.lua")

local REGIONS = { "emea", " EMEA ", "Apac", "  amer", "AMER  ", "LatAm", "\tapac\n" }

--- Formats epoch seconds t as local time at offset_min minutes east of UTC.
local function iso(t, offset_min, suffix)
  return os.date("!%Y-%m-%dT%H:%M:%S", t + offset_min * 60) .. suffix
end

local DATE_STYLES = {
  function(t) return iso(t, 0, "") end,
  function(t) return iso(t, 0, "+00:00") end,
  function(t) return iso(t, 330, "+05:30") end,
  function(t) return iso(t, -240, "-04:00") end,
  function(t) return iso(t, 0, "Z") end,
}

--- Builds the partner feed: n distinct sales, then every 10th id repeated
-- later with a new amount (and a different date and region, which an upsert
-- that updates only revenue must ignore). Returns the JSON text and the table
-- that row-by-row upserts in array order produce: sale_id -> {epoch, revenue, region}.
local function make_feed(n)
  math.randomseed(20261127)
  local items, expected = {}, {}
  local function amount_json(cents)
    local text = string.format("%d.%02d", cents // 100, cents % 100)
    local style = math.random(3)
    if style == 1 then return '"' .. text .. '"', text end           -- numeric string
    if style == 2 then return text, text end                         -- JSON number
    return string.format("%d", cents // 100), string.format("%d.00", cents // 100) -- integer
  end
  local function record(id, id_json, t, cents)
    local amount, revenue = amount_json(cents)
    local region = REGIONS[math.random(#REGIONS)]
    local date = DATE_STYLES[math.random(#DATE_STYLES)](t)
    items[#items + 1] = string.format('{"id":%s,"date":"%s","amount_usd":%s,"region":%s,"channel":"web"}',
      id_json, date, amount, string.format("%q", region):gsub("\\\n", "\\n"):gsub("\\9", "\\t"))
    local old = expected[id]
    if old then
      old.revenue = revenue
    else
      local trimmed = region:match("^%s*(.-)%s*$"):upper()
      expected[id] = { epoch = t, revenue = revenue, region = trimmed }
    end
  end
  local base = 1767225600 -- 2026-01-01T00:00:00Z
  for i = 1, n do
    local t = base + i * 3571
    if i % 7 == 0 then
      record(tostring(900000 + i), tostring(900000 + i), t, math.random(1, 99999999))
    else
      record("S" .. i, '"S' .. i .. '"', t, math.random(1, 99999999))
    end
  end
  for i = 10, n, 10 do
    local id = (i % 7 == 0) and tostring(900000 + i) or ("S" .. i)
    local id_json = (i % 7 == 0) and id or ('"' .. id .. '"')
    record(id, id_json, base + 99, math.random(1, 99999999))
  end
  return '{"generated":"fixture","sales":[\n' .. table.concat(items, ",\n") .. "\n]}", expected
end

local function run_pipeline(env)
  env.SALES_RETRY_DELAY = env.SALES_RETRY_DELAY or "0.05"
  return testenv.salesengine({ "scripts/pipeline.lua" }, { env = env })
end

describe("the sales pipeline end to end", function()
  local dir, api, dsn, password_dsn, password

  sales_site.for_spec("sales_pipeline", { drop = { "fact_sales" } }, function(site)
    dir, api, dsn, password_dsn, password = site.dir, site.api, site.dsn, site.password_dsn, site.password
  end)

  it("loads exactly what row-by-row upserts in array order would, and a re-run changes nothing", function()
    local feed, expected = make_feed(3000)
    testenv.write_file(dir .. "/sales.json", feed)
    local r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    local want = F.lines(expected)
    assert.are.equal(want, F.table_lines(dsn))
    assert.matches("msg=\"starting sales pipeline\"", r.stderr)
    assert.matches("msg=extracted records=3300", r.stderr)
    assert.matches("msg=transformed rows=3300", r.stderr)
    assert.matches("msg=\"pipeline complete\"", r.stderr)

    local before = testenv.psql(dsn, "SELECT max(loaded_at) FROM fact_sales")
    r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(want, F.table_lines(dsn))
    assert.are.equal("3000\n", testenv.psql(dsn, "SELECT count(*) FROM fact_sales"))
    assert.are.equal("t\n", testenv.psql(dsn,
      "SELECT min(loaded_at) > '" .. before:gsub("\n", "") .. "' FROM fact_sales"))
  end)

  it("keeps numeric ids exact: 2^53 + 1 and 2^53 are two sales, in JSON and in JSON Lines", function()
    local records = {
      '{"id":9007199254740993,"date":"2026-01-01T00:00:00Z","amount_usd":1.25,"region":"emea"}',
      '{"id":9007199254740992,"date":"2026-01-02T00:00:00Z","amount_usd":2.5,"region":"apac"}',
      '{"id":18446744073709551617,"date":"2026-01-03T00:00:00Z","amount_usd":3,"region":"amer"}',
      '{"id":1e20,"date":"2026-01-04T00:00:00Z","amount_usd":"4.00","region":"emea"}',
      '{"id":-9223372036854775808,"date":"2026-01-05T00:00:00Z","amount_usd":5,"region":"emea"}',
    }
    testenv.write_file(dir .. "/exact.json", '{"sales":[' .. table.concat(records, ",") .. "]}")
    testenv.write_file(dir .. "/exact.ndjson", table.concat(records, "\n") .. "\n")
    local want = "-9223372036854775808|1767571200|5.00|EMEA\n18446744073709551617|1767398400|3.00|AMER\n" ..
      "1e20|1767484800|4.00|EMEA\n9007199254740992|1767312000|2.50|APAC\n9007199254740993|1767225600|1.25|EMEA\n"
    for _, name in ipairs({ "exact.json", "exact.ndjson" }) do
      testenv.psql(dsn, "DROP TABLE IF EXISTS fact_sales")
      local r = run_pipeline({ SALES_API_URL = api.url .. "/" .. name, WAREHOUSE_DSN = dsn })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(want, F.table_lines(dsn), name)
      assert.matches("msg=\"pipeline complete\".*loaded=5.*rejected=0", r.stderr)
    end
  end)

  it("fails with the usage code when a variable is missing", function()
    local r = run_pipeline({ SALES_API_URL = false, WAREHOUSE_DSN = dsn })
    assert.are.equal(2, r.code)
    assert.matches("salesengine: environment variable SALES_API_URL is not set", r.stderr)
    r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = false })
    assert.are.equal(2, r.code)
    assert.matches("secret WAREHOUSE_DSN is not set", r.stderr)
  end)

  it("gives up on an API that keeps failing, naming the URL and the attempts", function()
    testenv.write_file(dir .. "/sales.json", (make_feed(20)))
    api.reset()
    local url = api.url .. "/sales.json?status=503"
    local r = run_pipeline({ SALES_API_URL = url, WAREHOUSE_DSN = dsn })
    assert.are.equal(3, r.code)
    assert.truthy(r.stderr:find(url, 1, true), r.stderr)
    assert.matches("3 attempts", r.stderr)
    assert.matches("503", r.stderr)
    assert.are.equal(3, api.count("/sales.json"))
    assert.are.equal("", testenv.psql(dsn, "SELECT to_regclass('fact_sales')"):gsub("%s", ""))
  end)

  it("fails on a response that is not JSON or has no sales array", function()
    local cases = {
      ["html.json"] = { "<html>maintenance</html>", "invalid JSON at byte 1" },
      ["nan.json"] = { '{"sales":[{"id":1,"amount_usd":NaN}]}',
        "invalid JSON at byte 32: lexical error: invalid char in json text." },
      ["tab.json"] = { '{"sales":[{"id":"S\t1"}]}',
        "invalid JSON at byte 18: lexical error: invalid character inside" },
      ["leading_zero.ndjson"] = { '{"id":"S1"}\n01\n', "invalid JSON at byte 14: a second value on one line" },
      ["nosales.json"] = { '{"data": []}', "the response has no records array 'sales'" },
      ["nullsales.json"] = { '{"sales": null}', "'sales' in the response is null, not an array of records" },
      ["objsales.json"] = { '{"sales": {"id": "S1"}}', "'sales' in the response is an object, not an array" },
    }
    for name, case in pairs(cases) do
      testenv.write_file(dir .. "/" .. name, case[1])
      local r = run_pipeline({ SALES_API_URL = api.url .. "/" .. name, WAREHOUSE_DSN = dsn })
      assert.are.equal(3, r.code, name .. ": " .. r.stderr)
      assert.truthy(r.stderr:find(case[2], 1, true), name .. ": " .. r.stderr)
    end
  end)

  it("fails on an unreachable database without printing the password", function()
    testenv.write_file(dir .. "/sales.json", (make_feed(20)))
    local closed = password_dsn:gsub(":(%d+)/", ":" .. testenv.free_port() .. "/")
    local r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = closed })
    assert.are.equal(4, r.code, r.stderr)
    assert.matches("salesengine: ", r.stderr)
    assert.falsy(r.stderr:find(password, 1, true), r.stderr)
    assert.falsy(r.stdout:find(password, 1, true))
    local wrong = password_dsn:gsub(password:gsub("%p", "%%%0"), password .. "x")
    assert.are_not.equal(password_dsn, wrong)
    r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = wrong })
    assert.are.equal(4, r.code, r.stderr)
    assert.falsy(r.stderr:find(password, 1, true), r.stderr)
  end)

  it("loads nothing when a record is bad or the database refuses a row", function()
    testenv.write_file(dir .. "/sales.json", (make_feed(50)))
    local r = run_pipeline({ SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    local before = F.table_lines(dsn)

    local feed = make_feed(50):gsub('"date":"[^"]*"', '"date":"2026-13-45"', 1)
    testenv.write_file(dir .. "/bad.json", feed)
    r = run_pipeline({ SALES_API_URL = api.url .. "/bad.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("record 1 %(id S1%) is invalid", r.stderr)
    assert.matches("2026%-13%-45", r.stderr)
    assert.are.equal(before, F.table_lines(dsn))

    -- numeric(14,2) overflows: PostgreSQL refuses the row, which becomes a reject;
    -- 2 of 55 is over the default max_rejects (1%), so the transaction rolls back
    feed = make_feed(50):gsub('("id":"S30","date":"[^"]*","amount_usd":)[^,]*', '%1"99999999999999"')
    testenv.write_file(dir .. "/overflow.json", feed)
    r = run_pipeline({ SALES_API_URL = api.url .. "/overflow.json", WAREHOUSE_DSN = dsn })
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("fact_sales", r.stderr)
    assert.matches("22003", r.stderr)
    assert.are.equal(before, F.table_lines(dsn))
  end)
end)
