-- scripts/pipeline.lua with SALES_PAGE_SIZE (paged extract) and --partition
-- I/N, offline with the fakes of salesengine.testing: the same table as the
-- one-body run, each page fetched by exactly one partition.
local testing = require "salesengine.testing"

local offline_sales = dofile("tests/lib/offline_sales.lua")
local URL = offline_sales.URL

-- n sales S1..Sn, then S2 again with a new amount (a key in two pages).
local function sales(n)
  local list = {}
  for i = 1, n do
    list[i] = { id = "S" .. i, date = string.format("2026-01-%02dT10:00:00Z", 1 + i % 28),
      amount_usd = i + 0.25, region = ({ "emea", "apac", "amer" })[1 + i % 3] }
  end
  list[#list + 1] = { id = "S2", date = "2026-02-01T00:00:00Z", amount_usd = "99.99", region = "latam" }
  return list
end

local function page_url(n, size)
  return string.format("%s?page=%d&per_page=%d", URL, n, size)
end

-- Routes serving list in pages of size (the last one short unless exact;
-- then empty pages, as an API answers past the end); with next_null, every
-- page carries "next" (null on the last one).
local function paged_routes(list, size, next_null)
  local routes, n = {}, 0
  for first = 1, #list + 3 * size, size do
    n = n + 1
    local page = table.move(list, first, math.min(first + size - 1, #list), 1, {})
    local body = { sales = page }
    if next_null then
      body.next = first + size <= #list and page_url(n + 1, size) or require("cjson").null
    end
    routes[page_url(n, size)] = { json = body }
  end
  return routes
end

local run = offline_sales.run

-- fact_sales as {sale_id -> "date|revenue|region"}.
local function table_of(db)
  local out = {}
  for _, row in ipairs(db:rows("fact_sales")) do
    out[row.sale_id] = table.concat({ row.sale_date, row.revenue, row.region }, "|")
  end
  return out
end

describe("scripts/pipeline.lua with SALES_PAGE_SIZE", function()
  it("pages from 1 until a short page and loads what the one-body run loads", function()
    local list = sales(24) -- 25 sales: pages of 10, 10, 5
    local one = testing.fake_pg()
    assert.are.equal(0, run({ http = testing.fake_http({ [URL] = { json = { sales = list } } }), pg = one }).code)
    local http = testing.fake_http(paged_routes(list, 10))
    local paged = testing.fake_pg()
    local r = run({ env = { SALES_PAGE_SIZE = "10" }, http = http, pg = paged })
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 1, 1, 1, 0 }, { http:count(page_url(1, 10)), http:count(page_url(2, 10)),
      http:count(page_url(3, 10)), http:count(page_url(4, 10)) })
    assert.are.equal(0, http:count(URL))
    assert.are.same(table_of(one), table_of(paged))
    assert.are.equal(24, #paged:rows("fact_sales"))
  end)

  it("stops at a page whose body says \"next\": null even when it is full", function()
    local list = sales(19) -- 20 sales: two full pages, the second says next: null
    local http = testing.fake_http(paged_routes(list, 10, true))
    local db = testing.fake_pg()
    local r = run({ env = { SALES_PAGE_SIZE = "10" }, http = http, pg = db })
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 1, 1, 0 }, { http:count(page_url(1, 10)), http:count(page_url(2, 10)),
      http:count(page_url(3, 10)) })
    assert.are.equal(19, #db:rows("fact_sales"))
  end)

  it("refuses a page size that is not a whole number from 1 with the usage code", function()
    for _, bad in ipairs({ "0", "ten", "2.5" }) do
      local r = run({ env = { SALES_PAGE_SIZE = bad }, http = testing.fake_http({}), pg = testing.fake_pg() })
      assert.are.equal(2, r.code)
      assert.matches("SALES_PAGE_SIZE", r.error)
    end
  end)
end)

describe("paginate.page_number's short_is_last", function()
  -- The pages page_number fetches from routes, with opts added to its options.
  local function pages_read(routes, opts)
    local http = testing.fake_http(routes)
    local restore = testing.install({ http = http })
    local ok, err = pcall(function()
      local o = { url = URL, items = "sales", size_param = "per_page", size = 10 }
      for k, v in pairs(opts) do o[k] = v end
      for _, page, perr in require("salesengine.paginate").page_number(o) do
        assert(page, perr)
      end
    end)
    restore()
    assert(ok, err)
    local n = 0
    while http:count(page_url(n + 1, 10)) > 0 do n = n + 1 end
    return n
  end

  it("ends at a page shorter than size only when asked (an API may cap the size)", function()
    local routes = paged_routes(sales(24), 10) -- 25 sales: 10, 10, 5, then empty pages
    assert.are.equal(3, pages_read(routes, { short_is_last = true }))
    assert.are.equal(4, pages_read(routes, {})) -- the empty page 4 ends it
  end)

  it("refuses short_is_last without a whole size and a size_param", function()
    for _, bad in ipairs({ { short_is_last = false }, { short_is_last = true, size = 2.5 },
      { short_is_last = true, size_param = false } }) do
      local ok, err = pcall(pages_read, {}, bad)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'page_number' %(option 'short_is_last': true or absent", err)
    end
  end)
end)

describe("scripts/pipeline.lua with --partition I/N", function()
  it("each partition fetches the pages p with (p-1) mod N = I; together they load the one-process table", function()
    local list = sales(54) -- 55 sales in pages of 10: 1..6, page 6 short
    local one = testing.fake_pg()
    assert.are.equal(0, run({ env = { SALES_PAGE_SIZE = "10" }, http = testing.fake_http(paged_routes(list, 10)),
      pg = one }).code)
    local shared = testing.fake_pg()
    local fetched = {}
    for i = 0, 2 do
      local http = testing.fake_http(paged_routes(list, 10))
      local r = run({ env = { SALES_PAGE_SIZE = "10" }, http = http, pg = shared,
        options = { partition = { index = i, count = 3 } } })
      assert.are.equal(0, r.code, r.error)
      for p = 1, 7 do
        if http:count(page_url(p, 10)) > 0 then
          fetched[#fetched + 1] = string.format("%d:%d", i, p)
        end
      end
    end
    -- partition 0: 1, 4, 7 (7 is past the end: 6 was short, but partition 0 sees 4 full and must ask for 7)
    assert.are.same({ "0:1", "0:4", "0:7", "1:2", "1:5", "2:3", "2:6" }, fetched)
    assert.are.same(table_of(one), table_of(shared))
  end)

  it("a key in several partitions: the row of the partition that commits last wins", function()
    local list = sales(54) -- S2 is on page 1 (partition 0 of 3) and again, amount 99.99, on page 6 (partition 2)
    local db = testing.fake_pg()
    for _, i in ipairs({ 2, 0 }) do
      local r = run({ env = { SALES_PAGE_SIZE = "10" }, http = testing.fake_http(paged_routes(list, 10)), pg = db,
        options = { partition = { index = i, count = 3 } } })
      assert.are.equal(0, r.code, r.error)
    end
    assert.are.equal("2.25", db:row("fact_sales", { "sale_id" }, "S2").revenue)
    local last = testing.fake_pg()
    assert.are.equal(0, run({ env = { SALES_PAGE_SIZE = "10" }, http = testing.fake_http(paged_routes(list, 10)),
      pg = last, options = { partition = { index = 2, count = 3 } } }).code)
    assert.are.equal("99.99", last:row("fact_sales", { "sale_id" }, "S2").revenue)
  end)

  it("refuses a source that cannot be split (the one body) with the usage code", function()
    local db = testing.fake_pg()
    local r = run({ http = testing.fake_http({ [URL] = { json = { sales = sales(3) } } }), pg = db,
      options = { partition = { index = 0, count = 2 } } })
    assert.are.equal(2, r.code)
    assert.matches("%-%-partition 0/2: the source of 'sales' cannot be split", r.error)
    assert.are.equal(0, #db:rows("fact_sales"))
  end)
end)
