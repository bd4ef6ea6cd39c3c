-- The etl runner for real: scripts/pipeline.lua against the fixture API and
-- PostgreSQL. Rejects and the dead-letter table, max_rejects, isolation of a
-- row PostgreSQL refuses, --dry-run, the progress line, JSON logs and
-- --summary-json.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")
local cjson = require "cjson"

-- n sales S1..Sn as JSON text; overrides[i] replaces fields of record i.
local function feed(n, overrides)
  local items = {}
  for i = 1, n do
    local rec = { id = "S" .. i, date = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i * 3600),
      amount_usd = string.format("%d.%02d", i, i % 100), region = (i % 2 == 0) and " emea " or "Apac" }
    for k, v in pairs(overrides and overrides[i] or {}) do
      rec[k] = v
    end
    items[i] = cjson.encode(rec)
  end
  return '{"sales":[' .. table.concat(items, ",\n") .. "]}"
end

local function psql(dsn, sql)
  return (testenv.psql(dsn, sql):gsub("\n$", ""))
end

-- A dump of the whole database (schema and data), to prove nothing changed;
-- without the random \restrict key that pg_dump writes into every dump.
local function dump(dsn)
  local r = testenv.run({ "pg_dump", "--no-owner", "-d", dsn })
  assert(r.code == 0, r.stderr)
  return (r.stdout:gsub("\n\\(u?n?restrict) %w+\n", "\n\\%1\n"))
end

describe("the etl runner on scripts/pipeline.lua", function()
  local dir, api, dsn

  local site = sales_site.for_spec("etl_sales", { drop = { "fact_sales", "etl_rejects" } },
    function(s) dir, api, dsn = s.dir, s.api, s.dsn end)

  local function run(file, args, env)
    env = site.env(api.url .. "/" .. file, env)
    local argv = {}
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = "scripts/pipeline.lua"
    return testenv.salesengine(argv, { env = env })
  end

  it("sends one bad record among thousands to etl_rejects, loads all the others, and says so", function()
    testenv.write_file(dir .. "/one_bad.json", feed(4000, { [2345] = { date = "2026-13-45" } }))
    local summary_path = dir .. "/summary.json"
    local r = run("one_bad.json", { "--summary-json", summary_path })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("3999", psql(dsn, "SELECT count(*) FROM fact_sales"))
    assert.are.equal("0", psql(dsn, "SELECT count(*) FROM fact_sales WHERE sale_id = 'S2345'"))
    local rej = psql(dsn, "SELECT stage, field, record_key, code, reason, raw FROM etl_rejects")
    local stage, field, key, code, reason, raw = rej:match("^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$")
    assert.are.same({ "transform", "date", "S2345", "INVALID" }, { stage, field, key, code })
    assert.matches("2026%-13%-45", reason)
    assert.are.same({ id = "S2345", date = "2026-13-45", amount_usd = "2345.45", region = "Apac" },
      cjson.decode(raw))
    assert.matches("msg=\"record rejected\".*key=S2345", r.stderr)
    assert.matches("msg=\"pipeline complete\".*extracted=4000 identity=ok.*loaded=3999.*rejected=1", r.stderr)

    -- the summary matches the database
    local s = cjson.decode(testenv.read_file(summary_path))
    assert.are.same({ "ok", 4000, 3999, 0, 1, true }, { s.status, s.extracted, s.loaded, s.skipped, s.rejected,
      s.identity_ok })
    local inserted = math.tointeger(s.tables.fact_sales.inserted)
    assert.are.equal(psql(dsn, "SELECT count(*) FROM fact_sales"), tostring(inserted))
    assert.are.equal(tostring(math.tointeger(s.rejected)),
      psql(dsn, "SELECT count(*) FROM etl_rejects WHERE run_id = '" .. s.run_id .. "'"))
  end)

  it("fails with exit code 5 once max_rejects is exceeded, committing nothing", function()
    testenv.write_file(dir .. "/bad3.json",
      feed(300, { [10] = { amount_usd = "12,5x" }, [20] = { region = cjson.null }, [30] = { date = "yesterday" } }))
    local r = run("bad3.json", {}, { SALES_MAX_REJECTS = "2" })
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("salesengine: too many rejects: 3 of %d+ records %(max_rejects 2%); first: record 10 %(id S10%)",
      r.stderr)
    assert.are.equal("", psql(dsn, "SELECT to_regclass('fact_sales')"))
    assert.are.equal("S10,S20,S30", psql(dsn, "SELECT string_agg(record_key, ',' ORDER BY seq) FROM etl_rejects"))
    r = run("bad3.json", {}, { SALES_MAX_REJECTS = "3" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("297", psql(dsn, "SELECT count(*) FROM fact_sales"))
  end)

  it("isolates a row PostgreSQL refuses and loads the rest of its batch", function()
    -- record 1500 also carries members the transform never reads: its record
    -- is no longer held while its row is judged, and the dead-letter still
    -- gets it whole
    testenv.write_file(dir .. "/overflow.json", feed(2500, { [1500] = { amount_usd = "99999999999999",
      channel = "web", extra = { tags = { "a", "b" }, note = cjson.null } } }))
    local r = run("overflow.json")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("2499", psql(dsn, "SELECT count(*) FROM fact_sales"))
    -- the refused row's batch is records 1001..2000: all but S1500 are there
    assert.are.equal("999", psql(dsn, [[SELECT count(*) FROM fact_sales
      WHERE substr(sale_id, 2)::int BETWEEN 1001 AND 2000]]))
    assert.are.equal("load|S1500|22003|revenue", psql(dsn, "SELECT stage, record_key, code, field FROM etl_rejects"))
    assert.matches("fact_sales", psql(dsn, "SELECT reason FROM etl_rejects"))
    assert.are.same({ id = "S1500", date = "2026-03-04T12:00:00Z", amount_usd = "99999999999999", region = " emea ",
      channel = "web", extra = { tags = { "a", "b" }, note = cjson.null } },
      cjson.decode(psql(dsn, "SELECT raw FROM etl_rejects")))
  end)

  it("leaves the database byte for byte as it was with --dry-run", function()
    testenv.write_file(dir .. "/dry.json", feed(1200, { [7] = { date = "2026-02-30" } }))
    local before = dump(dsn)
    local r = run("dry.json", { "--dry-run" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("msg=\"dry run: would load\" rows=1199 table=fact_sales", r.stderr)
    assert.truthy(r.stderr:find('msg="dry run: sample row" row="{\\"', 1, true), r.stderr)
    assert.are.equal(before, dump(dsn))

    -- with data in place too
    r = run("dry.json")
    assert.are.equal(0, r.code, r.stderr)
    testenv.write_file(dir .. "/dry2.json", feed(1300, { [8] = { amount_usd = "99999999999999" } }))
    before = dump(dsn)
    r = run("dry2.json", { "--dry-run" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(before, dump(dsn))
  end)

  it("draws the progress line on a terminal only", function()
    testenv.write_file(dir .. "/progress.json", feed(50))
    local cmd = testenv.shquote(testenv.bin) .. " scripts/pipeline.lua"
    local env = { SALES_API_URL = api.url .. "/progress.json", WAREHOUSE_DSN = dsn }
    local tty = testenv.run({ "script", "-qec", cmd, "/dev/null" }, { env = env })
    assert.are.equal(0, tty.code, tty.stdout)
    assert.matches("\rsales: pages=1 records=50 %(%d+/s%) rejects=0 elapsed=[%d.]+s\27%[K\r?\n", tty.stdout)
    local piped = run("progress.json")
    assert.are.equal(0, piped.code, piped.stderr)
    assert.falsy(piped.stderr:find("\r", 1, true))
    assert.falsy(piped.stderr:find("pages=1 records", 1, true))
    local quiet = testenv.run({ "script", "-qec", testenv.shquote(testenv.bin) .. " --quiet scripts/pipeline.lua",
      "/dev/null" }, { env = env })
    assert.are.equal(0, quiet.code, quiet.stdout)
    assert.falsy(quiet.stdout:find("records=50", 1, true))
  end)

  it("rolls back on SIGINT, exits 130 and still writes the summary and the rejects", function()
    local body = feed(60000, { [5] = { date = "2026-13-45" } })
    testenv.write_file(dir .. "/big.json", body)
    local summary_path = dir .. "/interrupted.json"
    -- the API sends two thirds of the body and then nothing for 30 s: the signal comes after the
    -- first load batches, while the run waits for the rest, however fast it got there
    local url = string.format("%s/big.json?fault=stall&at=%d&seconds=30", api.url, #body * 2 // 3)
    local script = string.format([[
      SALES_API_URL=%s WAREHOUSE_DSN=%s %s --summary-json %s scripts/pipeline.lua 2>%s &
      pid=$!
      while kill -0 $pid 2>/dev/null && ! grep -q "record rejected" %s; do sleep 0.05; done
      sleep 0.5
      kill -INT $pid
      wait $pid]], testenv.shquote(url), testenv.shquote(dsn), testenv.shquote(testenv.bin),
      testenv.shquote(summary_path), testenv.shquote(dir .. "/big.err"), testenv.shquote(dir .. "/big.err"))
    local r = testenv.run({ "sh", "-c", script })
    local stderr = testenv.read_file(dir .. "/big.err")
    assert.are.equal(130, r.code, stderr)
    assert.matches("salesengine: interrupted by SIGINT", stderr)
    assert.matches("msg=\"pipeline failed\"", stderr)
    assert.are.equal("", psql(dsn, "SELECT to_regclass('fact_sales')"))
    assert.are.equal("S5", psql(dsn, "SELECT record_key FROM etl_rejects"))
    local s = cjson.decode(testenv.read_file(summary_path))
    assert.are.same({ "failed", 130, "interrupted", false }, { s.status, s.exit_code, s.error.kind, s.committed })
    assert.is_true(s.extracted >= 5 and s.extracted < 60000, "records before the signal: " .. s.extracted)
  end)

  it("writes JSON logs that parse line by line", function()
    testenv.write_file(dir .. "/json.json", feed(100, { [3] = { date = "nope" } }))
    local r = run("json.json", { "--log-format=json" })
    assert.are.equal(0, r.code, r.stderr)
    local msgs = {}
    for line in r.stderr:gmatch("[^\n]+") do
      local entry = cjson.decode(line)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", entry.ts)
      msgs[#msgs + 1] = entry.msg
      if entry.msg == "pipeline complete" then
        -- numbers are JSON numbers (issue 15)
        assert.are.same({ 100, 99, 1, "ok" }, { entry.extracted, entry.loaded, entry.rejected, entry.identity })
      end
    end
    assert.are.same({ "starting sales pipeline", "record rejected", "extracted", "transformed", "loaded",
      "pipeline complete" }, msgs)
  end)
end)
