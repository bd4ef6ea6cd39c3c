-- --metrics-file: the sales pipeline's figures in the Prometheus text format,
-- accepted by promtool, written atomically on every exit, with the last
-- success time kept across failed runs.
local testenv = dofile("tests/lib/testenv.lua")
local sales_site = dofile("tests/lib/sales_site.lua")

-- A feed of n sales with ids S1..Sn, the last `bad` of them with an invalid date.
local function feed(n, bad)
  local items = {}
  for i = 1, n do
    local date = i > n - bad and "2026-13-45" or "2026-01-02T10:00:00Z"
    items[i] = string.format('{"id":"S%d","date":"%s","amount_usd":"%d.50","region":"emea"}', i, date, i)
  end
  return '{"sales":[' .. table.concat(items, ",") .. "]}"
end

-- The value of the series `name{labels}` in text (labels: the exact label text), or nil.
local function value(text, series)
  local v = text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)\n")
  return v and tonumber(v)
end

local function promtool_check(path)
  local r = testenv.run({ "sh", "-c", "promtool check metrics < " .. testenv.shquote(path) })
  assert.are.equal(0, r.code, "promtool check metrics: " .. r.stdout .. r.stderr)
end

describe("--metrics-file", function()
  local dir, api, dsn, prom

  local site = sales_site.for_spec("metrics", {}, function(s)
    dir, api, dsn = s.dir, s.api, s.dsn
    prom = dir .. "/sales.prom"
  end)

  local function run(url, env)
    local e = site.env(url, { SALES_RETRY_DELAY = "0.01", SALES_MAX_REJECTS = "10" })
    for k, v in pairs(env or {}) do
      e[k] = v
    end
    return testenv.salesengine({ "--metrics-file", prom, "scripts/pipeline.lua" }, { env = e })
  end

  it("writes the run's figures, accepted by promtool, and keeps the last success across failures", function()
    testenv.write_file(dir .. "/sales.json", feed(50, 2))
    local before = os.time()
    local r = run(api.url .. "/sales.json")
    assert.are.equal(0, r.code, r.stderr)
    promtool_check(prom)
    local text = testenv.read_file(prom)
    local p = '{pipeline="sales"}'
    assert.are.equal(50, value(text, "salesengine_records_extracted_total" .. p))
    assert.are.equal(48, value(text, "salesengine_records_transformed_total" .. p))
    assert.are.equal(48, value(text, "salesengine_records_loaded_total" .. p))
    assert.are.equal(2, value(text, "salesengine_records_rejected_total" .. p))
    assert.are.equal(0, value(text, "salesengine_records_skipped_total" .. p))
    local t = '{pipeline="sales",table="fact_sales"}'
    assert.are.equal(48, value(text, "salesengine_rows_inserted_total" .. t))
    assert.are.equal(0, value(text, "salesengine_rows_updated_total" .. t))
    assert.are.equal(0, value(text, "salesengine_rows_unchanged_total" .. t))
    assert.are.equal(1, value(text, 'salesengine_http_requests_total{pipeline="sales",code="200"}'))
    assert.are.equal(#feed(50, 2), value(text, "salesengine_fetched_bytes_total" .. p))
    for _, stage in ipairs({ "extract", "transform", "load" }) do
      assert.is_true(value(text, 'salesengine_stage_duration_seconds{pipeline="sales",stage="' .. stage .. '"}') >= 0)
    end
    assert.are.equal(0, value(text, "salesengine_exit_code" .. p))
    local success = value(text, "salesengine_last_success_timestamp_seconds" .. p)
    assert.is_true(success >= before and success <= os.time() + 1)
    assert.are.equal(success, value(text, "salesengine_last_run_timestamp_seconds" .. p))

    -- an API that keeps failing: exit 3, retries by status, the last success kept
    r = run(api.url .. "/sales.json?status=503")
    assert.are.equal(3, r.code, r.stderr)
    promtool_check(prom)
    text = testenv.read_file(prom)
    assert.are.equal(3, value(text, "salesengine_exit_code" .. p))
    assert.are.equal(3, value(text, 'salesengine_http_requests_total{pipeline="sales",code="503"}'))
    assert.are.equal(2, value(text, 'salesengine_http_retries_total{pipeline="sales",code="503"}'))
    assert.are.equal(0, value(text, "salesengine_records_extracted_total" .. p))
    assert.are.equal(success, value(text, "salesengine_last_success_timestamp_seconds" .. p))
    assert.is_true(value(text, "salesengine_last_run_timestamp_seconds" .. p) > success)

    -- a run that fails before etl.run (no secret): still written, same pipeline label
    r = run(api.url .. "/sales.json", { WAREHOUSE_DSN = false })
    assert.are.equal(2, r.code, r.stderr)
    promtool_check(prom)
    text = testenv.read_file(prom)
    assert.are.equal(2, value(text, "salesengine_exit_code" .. p))
    assert.are.equal(success, value(text, "salesengine_last_success_timestamp_seconds" .. p))
    assert.is_nil(text:find("salesengine_records_extracted_total", 1, true))

    -- a re-run: the rows updated (loaded_at is set again), a new success time; no temporary file is left
    r = run(api.url .. "/sales.json")
    assert.are.equal(0, r.code, r.stderr)
    text = testenv.read_file(prom)
    assert.are.equal(0, value(text, "salesengine_rows_inserted_total" .. t))
    assert.are.equal(48, value(text, "salesengine_rows_updated_total" .. t))
    assert.is_true(value(text, "salesengine_last_success_timestamp_seconds" .. p) > success)
    local ls = testenv.run({ "ls", dir })
    assert.are.equal("sales.json\nsales.prom\n", ls.stdout)
  end)

  it("reports a file it cannot write without changing the exit code", function()
    testenv.write_file(dir .. "/sales.json", feed(5, 0))
    local r = testenv.salesengine({ "--metrics-file", dir .. "/no/such/dir/m.prom", "scripts/pipeline.lua" },
      { env = { SALES_API_URL = api.url .. "/sales.json", WAREHOUSE_DSN = dsn } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("salesengine: cannot write the metrics file: .*/no/such/dir/m%.prom%.tmp%.%d+: No such file",
      r.stderr)
  end)
end)
