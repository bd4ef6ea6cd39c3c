-- salesengine --partition I/N on the sales job (scripts/pipeline.lua with
-- SALES_PAGE_SIZE) against a fixture API and a real PostgreSQL: N partitions
-- started at once leave the table one process leaves; a partition killed
-- with SIGKILL leaves nothing, and re-running it completes the table.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")

local SALES, PER_PAGE = 1000, 50 -- 20 pages

-- The feed: SALES sales; the last sale of each page repeats the page's first
-- id with a new amount (a repeat inside one page, so inside one partition).
local function write_feed(dir)
  local items = {}
  for i = 1, SALES do
    local id = i % PER_PAGE == 0 and "S" .. (i - PER_PAGE + 1) or "S" .. i
    items[i] = string.format('{"id":"%s","date":"2026-01-%02dT10:00:00Z","amount_usd":"%d.%02d","region":"%s"}',
      id, 1 + i % 28, i, i % 100, ({ "emea", "apac", "amer" })[1 + i % 3])
  end
  testenv.write_file(dir .. "/sales.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
end

local function table_lines(dsn)
  return testenv.psql(dsn, [[SELECT sale_id, extract(epoch FROM sale_date)::bigint, revenue::text, region
    FROM fact_sales ORDER BY sale_id COLLATE "C"]])
end

local function env_for(api, dsn, ms)
  return { SALES_API_URL = api.url .. "/paged/" .. (ms or 0) .. "/sales.json", WAREHOUSE_DSN = dsn,
    SALES_RETRY_DELAY = "0", SALES_PAGE_SIZE = tostring(PER_PAGE) }
end

-- Starts `salesengine ARGS scripts/pipeline.lua` in the background with env;
-- returns {pid, dir} (exit code in dir/rc once it ends, stderr in dir/err).
local function start(args, env)
  local dir = testenv.tmpdir()
  local parts = { "env" }
  for k, v in pairs(env) do parts[#parts + 1] = testenv.shquote(k .. "=" .. v) end
  parts[#parts + 1] = testenv.shquote(testenv.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = testenv.shquote(a) end
  parts[#parts + 1] = "scripts/pipeline.lua"
  local cmd = string.format("(%s >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc) >/dev/null 2>&1 &",
    table.concat(parts, " "), dir, dir, dir, dir)
  os.execute(cmd)
  local pid = tonumber(testenv.wait_for_file(dir .. "/pid"):match("%d+"))
  return { pid = pid, dir = dir }
end

local function wait_rc(p, timeout)
  return tonumber(testenv.wait_for_file(p.dir .. "/rc", timeout or 120):match("%d+"))
end

describe("salesengine --partition I/N", function()
  local api, one_dsn, one_table

  setup(function()
    local root = testenv.tmpdir()
    write_feed(root)
    api = api_fixture.start({ root = root })
    one_dsn = testenv.fresh_db("partition_one")
    local r = testenv.salesengine({ "scripts/pipeline.lua" }, { env = env_for(api, one_dsn) })
    assert(r.code == 0, r.stderr)
    one_table = table_lines(one_dsn)
    assert(select(2, one_table:gsub("\n", "")) == SALES - SALES // PER_PAGE, "one process loads every id")
  end)

  teardown(function()
    if api then api.stop() end
  end)

  it("3 partitions started at once leave exactly the table one process leaves", function()
    local dsn = testenv.fresh_db("partition_three")
    api.reset()
    local procs = {}
    for i = 0, 2 do
      procs[#procs + 1] = start({ "--partition", i .. "/3" }, env_for(api, dsn))
    end
    for i, p in ipairs(procs) do
      assert.are.equal(0, wait_rc(p), "partition " .. (i - 1) .. ": " .. testenv.read_file(p.dir .. "/err"))
    end
    assert.are.equal(one_table, table_lines(dsn))
    -- each page was fetched once: 1..20, then partitions 2 and 0 each see an empty page past
    -- the end (21, 22); partition 1 stops at page 20, which says "next": null
    local pages = {}
    for _, e in ipairs(api.log()) do
      assert.are.equal(tostring(PER_PAGE), e.params.per_page[1])
      pages[#pages + 1] = tonumber(e.params.page[1])
    end
    table.sort(pages)
    local want = {}
    for p = 1, 22 do want[p] = p end
    assert.are.same(want, pages)
  end)

  it("takes the partition from SALESENGINE_PARTITION and from JOB_COMPLETION_INDEX + SALESENGINE_PARTITIONS", function()
    local dsn = testenv.fresh_db("partition_env")
    local env0, env1 = env_for(api, dsn), env_for(api, dsn)
    env0.SALESENGINE_PARTITION = "0/2"
    env1.JOB_COMPLETION_INDEX, env1.SALESENGINE_PARTITIONS = "1", "2"
    local r0 = testenv.salesengine({ "scripts/pipeline.lua" }, { env = env0 })
    assert.are.equal(0, r0.code, r0.stderr)
    assert.matches('msg=partition partition=0/2 pipeline=sales', r0.stderr)
    assert.are_not.equal(one_table, table_lines(dsn)) -- half the pages
    local r1 = testenv.salesengine({ "scripts/pipeline.lua" }, { env = env1 })
    assert.are.equal(0, r1.code, r1.stderr)
    assert.are.equal(one_table, table_lines(dsn))
  end)

  it("refuses bad values with the usage code, naming the option or the variable", function()
    local r = testenv.salesengine({ "--partition", "3/3", "scripts/pipeline.lua" }, { env = env_for(api, one_dsn) })
    assert.are.equal(2, r.code)
    assert.matches("option %-%-partition '3/3'", r.stderr)
    local env = env_for(api, one_dsn)
    env.SALESENGINE_PARTITION = "1of2"
    r = testenv.salesengine({ "scripts/pipeline.lua" }, { env = env })
    assert.are.equal(2, r.code)
    assert.matches("SALESENGINE_PARTITION '1of2'", r.stderr)
  end)

  it("a partition killed with SIGKILL leaves nothing; re-running it completes the table", function()
    local dsn = testenv.fresh_db("partition_kill")
    local fast = start({ "--partition", "0/2" }, env_for(api, dsn))
    local slow = start({ "--partition", "1/2" }, env_for(api, dsn, 150)) -- 150 ms a page: 10 pages, 1.5 s
    testenv.wait_until("the slow partition to fetch 3 pages", function()
      local n = 0
      for _, e in ipairs(api.log()) do
        if e.path == "/paged/150/sales.json" then n = n + 1 end
      end
      return n >= 3
    end, 30)
    os.execute("kill -9 " .. slow.pid)
    assert.are.equal(137, wait_rc(slow))
    assert.are.equal(0, wait_rc(fast), testenv.read_file(fast.dir .. "/err"))
    -- only partition 0's pages are in: the killed run committed nothing
    local half = tonumber((testenv.psql(dsn, "SELECT count(*) FROM fact_sales"):match("%d+")))
    assert.are.equal(10 * (PER_PAGE - 1), half)
    local r = testenv.salesengine({ "--partition", "1/2", "scripts/pipeline.lua" }, { env = env_for(api, dsn) })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(one_table, table_lines(dsn))
  end)
end)

describe("salesengine --partition I/N on an incremental pipeline (time slots)", function()
  local since_fixture = dofile("tests/lib/since_fixture.lua")
  local PIPELINE = "examples/incremental_sales/pipeline.lua"
  local api

  -- 96 sales, one every 30 minutes from 2026-01-01T00:10Z: 48 hourly slots, 2 sales each
  local function feed(first, n, amount)
    local list = {}
    for i = first, first + n - 1 do
      list[#list + 1] = { id = "S" .. i, date = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767226200 + (i - 1) * 1800),
        amount_usd = amount or "10.00", region = "emea" }
    end
    return list
  end

  local function inc_env(dsn)
    return { SALES_API_URL = api.sales_url, WAREHOUSE_DSN = dsn, SALES_RETRY_DELAY = "0.01", SALES_PAGE_SIZE = "10" }
  end

  local function table_text(dsn)
    return testenv.psql(dsn, "SELECT sale_id, sale_date, revenue, region FROM fact_sales ORDER BY sale_id")
  end

  setup(function()
    api = since_fixture.start(feed(1, 96))
  end)

  teardown(function()
    if api then api.stop() end
  end)

  it("2 partitions at once load the one-process table, each under its own state row and lock", function()
    local one = testenv.fresh_db("partition_inc_one")
    local r = testenv.salesengine({ PIPELINE }, { env = inc_env(one) })
    assert.are.equal(0, r.code, r.stderr)
    local dsn = testenv.fresh_db("partition_inc_two")
    local p0 = since_fixture.spawn({ testenv.bin, "--partition", "0/2", PIPELINE }, inc_env(dsn))
    local p1 = since_fixture.spawn({ testenv.bin, "--partition", "1/2", PIPELINE }, inc_env(dsn))
    assert.are.equal(0, p0:wait(), p0:stderr())
    assert.are.equal(0, p1:wait(), p1:stderr())
    assert.are.equal(table_text(one), table_text(dsn))
    -- each kept the sales of its hourly slots: the even hours (from 00:00) are partition 0's
    assert.matches("loaded inserted=48 ", p0:stderr())
    assert.matches("loaded inserted=48 ", p1:stderr())
    assert.are.equal("sales#0/2|2026-01-02T22:40:00Z\nsales#1/2|2026-01-02T23:40:00Z\n", testenv.psql(dsn,
      "SELECT pipeline, cursor_value #>> '{}' FROM etl_state ORDER BY pipeline"))
    local show = testenv.salesengine({ "state", "show", "sales", "--dsn", dsn })
    assert.are.equal(0, show.code, show.stderr)
    assert.matches("pipeline:%s+sales#0/2.*pipeline:%s+sales#1/2", show.stdout)
    -- new sales: each partition's next run picks up its own from its own cursor
    api.add(feed(97, 4, "20.00"))
    for i = 0, 1 do
      r = testenv.salesengine({ "--partition", i .. "/2", PIPELINE }, { env = inc_env(dsn) })
      assert.are.equal(0, r.code, r.stderr)
    end
    r = testenv.salesengine({ PIPELINE }, { env = inc_env(one) })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(table_text(one), table_text(dsn))
    assert.are.equal("100\n", testenv.psql(dsn, "SELECT count(*) FROM fact_sales"))
  end)
end)
