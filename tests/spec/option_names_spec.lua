-- Issue 15, point 1: an option name nobody knows raises at once, at the
-- script's line, in Lua's own misuse form, whether it is given to etl.run,
-- one of its sinks, `rejects`, `incremental`, a salesengine.paginate style or
-- salesengine.http: one checker (salesengine.option_check) for all of them.
local testing = require "salesengine.testing"
local option_check = require "salesengine.option_check"

-- The error etl.run(spec) raises (spec completed with a working pipeline).
local function run_error(spec)
  local restore = testing.install({ log = testing.capture_log(), pg = testing.fake_pg(), sys = testing.fake_sys() })
  local etl = require "salesengine.etl"
  local full = { name = "t", db = "fake", source = etl.pages({}), sink = { table = "t", key = "id" } }
  for k, v in pairs(spec) do
    full[k] = v
  end
  if spec.sinks then
    full.sink = nil
  end
  local ok, err = pcall(etl.run, full) -- the pcall is the "script line" here: no position
  restore()
  assert.is_false(ok, "etl.run accepted the spec")
  return tostring(err)
end

describe("option names", function()
  it("etl.run names the unknown option, and the one meant", function()
    assert.are.equal("bad argument #1 to 'run' (unknown option 'max_reject'); did you mean 'max_rejects'?",
      run_error({ max_reject = 3 }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'frobnicate')", run_error({ frobnicate = true }))
    assert.are.equal("bad argument #1 to 'run' (option names must be strings, got number)",
      run_error({ [1] = "x" }))
  end)

  it("checks sinks, rejects and incremental with the option's path", function()
    assert.are.equal("bad argument #1 to 'run' (unknown option 'sink.colums'); did you mean 'sink.columns'?",
      run_error({ sink = { table = "t", key = "id", colums = { "id" } } }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'sinks[2].updte'); did you mean 'sinks[2].update'?",
      run_error({ sinks = { { name = "a", table = "a", key = "id" },
        { name = "b", table = "b", key = "id", updte = { "x" } } } }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'rejects.files'); did you mean 'rejects.file'?",
      run_error({ rejects = { files = "x.jsonl" } }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'incremental.lagg'); did you mean 'incremental.lag'?",
      run_error({ incremental = { field = "date", initial = "2026-01-01", lagg = 3 } }))
  end)

  it("reports the error at the line that called etl.run", function()
    local restore = testing.install({ log = testing.capture_log(), pg = testing.fake_pg(), sys = testing.fake_sys() })
    local etl = require "salesengine.etl"
    local chunk = assert(load("local etl = ...\netl.run { name = 'x', source = etl.pages({}), db = 'f',\n" ..
      "  sink = { table = 't', key = 'id' }, max_reject = 1 }", "=pipeline.lua"))
    local ok, err = pcall(chunk, etl)
    restore()
    assert.is_false(ok)
    assert.matches("^pipeline.lua:2: bad argument #1 to 'run' %(unknown option 'max_reject'%)", err)
  end)

  it("every paginate style checks its own options and the request's, at the caller's line", function()
    local paginate = require "salesengine.paginate"
    local cases = {
      { "cursor", { url = "http://a", cursor = "next", curser = "x" },
        "bad argument #1 to 'cursor' (unknown option 'curser'); did you mean 'cursor'?" },
      { "next_url", { url = "http://a", item = "orders" },
        "bad argument #1 to 'next_url' (unknown option 'item'); did you mean 'items'?" },
      { "page_number", { url = "http://a", hasmore = "more" },
        "bad argument #1 to 'page_number' (unknown option 'hasmore'); did you mean 'has_more'?" },
      { "offset", { url = "http://a", next = "x" }, "bad argument #1 to 'offset' (unknown option 'next')" },
      { "link_header", { url = "http://a", timout = 3 },
        "bad argument #1 to 'link_header' (unknown option 'timout'); did you mean 'timeout'?" },
      { "link_header", { url = "http://a", retry = { atempts = 3 } },
        "bad argument #1 to 'link_header' (unknown option 'retry.atempts'); did you mean 'retry.attempts'?" },
    }
    for _, c in ipairs(cases) do
      local chunk = assert(load("local p, opts = ...\nlocal it = p." .. c[1] .. "(opts)\nreturn it", "=pipeline.lua"))
      local ok, err = pcall(chunk, paginate, c[2])
      assert.is_false(ok, c[1])
      assert.are.equal("pipeline.lua:2: " .. c[3], err)
    end
    -- request options pass: they are http.get_json's
    assert.is_function(paginate.cursor({ url = "http://a", cursor = "next", timeout = 3, headers = {} }))
    assert.is_function(paginate.offset({ url = "http://a", limit = 10, has_more = "more", query = { a = 1 } }))
  end)

  it("is the checker salesengine.http uses", function()
    local names = option_check.HTTP.get_json
    assert.is_true(names.timeout and names.json and not names.url)
    local ok, err = pcall(option_check.check, { timout = 1 }, names, "get_json", 2)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'get_json' %(unknown option 'timout'%); did you mean 'timeout'%?$", err)
  end)
end)
