-- Issue 15, point 1: a path that does not fit the API's responses fails the
-- run with the extract exit code (3), naming the path and what the page has
-- instead: a misspelt items/records path is not an empty page, a misspelt
-- cursor, next or has_more path is not the last page. A JSON null (or an
-- empty array) there still means what it always meant.
local testing = require "salesengine.testing"

local function orders(from, to)
  local list = {}
  for i = from, to do
    list[#list + 1] = { id = "O" .. i }
  end
  return list
end

-- Runs a pipeline whose source is make_source(paginate) over the fake API
-- routes; returns ok, summary or failure, the fake database.
local function run(routes, make_source)
  local db = testing.fake_pg()
  local restore = testing.install({ http = testing.fake_http(routes), pg = db, log = testing.capture_log(),
    sys = testing.fake_sys() })
  local etl = require "salesengine.etl"
  local ok, res = pcall(etl.run, { name = "orders", source = make_source(require "salesengine.paginate"),
    sink = { table = "orders", key = { "id" } }, db = "fake" })
  restore()
  return ok, res, db
end

local API = "http://api.test/orders"

describe("a path that does not fit the response", function()
  it("items: an absent member fails (exit 3) naming the path and the members; [] and null are empty", function()
    local routes = { [API] = { json = { data = orders(1, 3), next = API .. "?p=2" } } }
    local ok, err, db = run(routes, function(p) return p.next_url { url = API, items = "orders" } end)
    assert.is_false(ok)
    assert.are.same({ 3, "extract", "INVALID" }, { err.exit_code, err.kind, err.code })
    assert.are.equal("paginate.next_url: page 1 (" .. API .. "): items path 'orders' not found: " ..
      "the response has no member 'orders' (it has: data, next)", err.message)
    assert.are.equal(0, #db:rows("orders"))
    for _, empty in ipairs({ {}, require("cjson").null }) do
      local ok2, s = run({ [API] = { json = { orders = empty, next = "" } } }, function(p)
        return p.next_url { url = API, items = "orders" }
      end)
      assert.is_true(ok2, tostring(s))
      assert.are.equal(0, s.extracted)
    end
  end)

  it("cursor: an absent member fails after the page it came with; null ends the run", function()
    local routes = {
      [API] = { json = { orders = orders(1, 3), meta = { next_cursor = "c2" } } },
      [API .. "?cursor=c2"] = { json = { orders = orders(4, 6), meta = { next_cursor = require("cjson").null } } },
    }
    local ok, s = run(routes, function(p)
      return p.cursor { url = API, items = "orders", cursor = "meta.next_cursor" }
    end)
    assert.is_true(ok, tostring(s))
    assert.are.same({ 2, 6 }, { s.pages, s.loaded })
    local ok2, err = run(routes, function(p) return p.cursor { url = API, items = "orders", cursor = "nextCursor" } end)
    assert.is_false(ok2)
    assert.are.equal(3, err.exit_code)
    assert.are.equal("paginate.cursor: page 1 (" .. API .. "): cursor path 'nextCursor' not found: " ..
      "the response has no member 'nextCursor' (it has: meta, orders)", err.message)
    local ok3, err3 = run(routes, function(p)
      return p.cursor { url = API, items = "orders", cursor = "meta.next" }
    end)
    assert.is_false(ok3)
    assert.matches("cursor path 'meta.next' not found: 'meta' in the response has no member 'next' " ..
      "%(it has: next_cursor%)$", err3.message)
  end)

  it("next: an absent member fails; null and \"\" end the run", function()
    local routes = { [API] = { json = { orders = orders(1, 2), links = { self = API } } } }
    local ok, err = run(routes, function(p) return p.next_url { url = API, items = "orders", next = "links.next" } end)
    assert.is_false(ok)
    assert.are.equal(3, err.exit_code)
    assert.matches("next path 'links.next' not found: 'links' in the response has no member 'next' " ..
      "%(it has: self%)$", err.message)
    for _, last in ipairs({ require("cjson").null, "" }) do
      local ok2, s = run({ [API] = { json = { orders = orders(1, 2), links = { next = last } } } }, function(p)
        return p.next_url { url = API, items = "orders", next = "links.next" }
      end)
      assert.is_true(ok2, tostring(s))
      assert.are.equal(2, s.loaded)
    end
  end)

  it("has_more: an absent member fails; false stops", function()
    local routes = {
      [API .. "?page=1"] = { json = { orders = orders(1, 2), more = true } },
      [API .. "?page=2"] = { json = { orders = orders(3, 4), more = false } },
    }
    local ok, s = run(routes, function(p) return p.page_number { url = API, items = "orders", has_more = "more" } end)
    assert.is_true(ok, tostring(s))
    assert.are.equal(4, s.loaded)
    local ok2, err = run(routes, function(p)
      return p.page_number { url = API, items = "orders", has_more = "hasMore" }
    end)
    assert.is_false(ok2)
    assert.are.same({ 3, "paginate.page_number: page 1 (" .. API .. "?page=1): has_more path 'hasMore' not " ..
      "found: the response has no member 'hasMore' (it has: more, orders)" }, { err.exit_code, err.message })
  end)

  it("etl.run's records path says what the page has instead", function()
    local restore = testing.install({ pg = testing.fake_pg(), log = testing.capture_log(), sys = testing.fake_sys() })
    local etl = require "salesengine.etl"
    local ok, err = pcall(etl.run, { name = "o", source = etl.pages({ { Sales = {}, total = 0 } }), records = "sales",
      sink = { table = "o", key = { "id" } }, db = "fake" })
    local ok2, err2 = pcall(etl.run, { name = "o", source = etl.pages({ { sales = "none" } }), records = "sales",
      sink = { table = "o", key = { "id" } }, db = "fake" })
    restore()
    assert.is_false(ok)
    assert.are.same({ 3, 'page 1 has no "sales" array: the page has no member \'sales\' (it has: Sales, total)' },
      { err.exit_code, err.message })
    assert.is_false(ok2)
    assert.are.equal('page 1 has no "sales" array: \'sales\' in the page is a string', err2.message)
  end)
end)
