-- salesengine.testing.fake_http: its clients (fake.new) follow http.new's
-- contract, so an offline spec of a script that makes a client sees what
-- the real module would send.
local testing = require "salesengine.testing"
local paginate = require "salesengine.paginate"

describe("testing.fake_http clients", function()
  local URL = "http://api/sales"

  it("start from their defaults, which calls override; the fake counts their requests", function()
    local seen = {}
    local http = testing.fake_http({
      [URL .. "?key=k1&page=1"] = function(req)
        seen[#seen + 1] = req
        return { json = { sales = { { id = 1 } } } }
      end,
    })
    local defaults = { query = { key = "k1" }, headers = { ["X-Team"] = "sales" } }
    local api = http.new(defaults)
    defaults.query.key = "changed later" -- copied when made
    local doc = assert(api:get_json(URL, { query = { page = 1 } }))
    assert.are.same({ { id = 1 } }, doc.sales)
    assert.are.equal("sales", seen[1].headers["X-Team"])
    local batch = api:records(URL, { records = "sales", query = { page = 1 } })()
    assert.are.equal(1, batch[1].id)
    assert.are.equal(2, http:count(URL .. "?key=k1&page=1"))
    -- the module's functions have no defaults
    assert.are.equal(404, select(4, http.get(URL, { query = { page = 1 } })).status)
  end)

  it("retry as their defaults say, and a call's retry merges field by field", function()
    local http = testing.fake_http({ [URL] = { status = 503 } })
    local api = http.new({ retry = { attempts = 2 } })
    local _, err, code = api:get(URL)
    assert.are.equal("HTTP_503", code)
    assert.matches("after 2 attempts", err)
    assert.are.equal(2, http:count(URL))
    _, err = api:get(URL, { retry = { base_delay = 0 } })
    assert.matches("after 2 attempts", err)
    _, _, code = api:get(URL, { retry = false })
    assert.are.equal("HTTP_503", code)
    assert.are.equal(5, http:count(URL))
  end)

  it("carry paginate's requests", function()
    local http = testing.fake_http({
      [URL .. "?key=k1&page=1"] = { json = { data = { { id = 1 }, { id = 2 } } } },
      [URL .. "?key=k1&page=2"] = { json = { data = {} } },
    })
    local ids = {}
    for _, page in paginate.page_number({ url = URL, client = http.new({ query = { key = "k1" } }) }) do
      for _, item in ipairs(page.items) do
        ids[#ids + 1] = item.id
      end
    end
    assert.are.same({ 1, 2 }, ids)
  end)

  it("raise on a bad default, and once closed", function()
    local http = testing.fake_http({ [URL] = { json = {} } })
    assert.has_error(function() http.new({ timout = 1 }) end,
      "bad argument #1 to 'new' (unknown option 'timout'); did you mean 'timeout'?")
    local api = http.new()
    assert(api:get(URL))
    api:close()
    assert.has_error(function() api:get(URL) end, "attempt to use a closed HTTP client")
    local kept
    do
      local scoped <close> = http.new()
      kept = scoped
    end
    assert.has_error(function() kept:get_json(URL) end, "attempt to use a closed HTTP client")
  end)
end)
