-- Issue 15, point 8: the small mends, through the salesengine command —
-- `state --help`, log format and level messages that list the valid ones,
-- JSON log values that keep their type, a JSON null indexed as a table, the
-- command table of docs/lua-api.md listing every option of --help.
local testenv = dofile("tests/lib/testenv.lua")
local cjson = require "cjson"

describe("the command's small mends", function()
  local dir
  before_each(function() dir = testenv.tmpdir() end)
  after_each(function() testenv.rm_rf(dir) end)

  it("salesengine state --help prints the state command's usage and exits 0", function()
    for _, args in ipairs({ { "state", "--help" }, { "state", "-h" }, { "state", "show", "--help" } }) do
      local r = testenv.salesengine(args)
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^usage: salesengine state show %[NAME%] %[%-%-dsn DSN%] %[%-%-json%]\n", r.stdout)
      assert.matches("\n  reset NAME ", r.stdout)
    end
  end)

  it("an unknown log format or level names the valid ones", function()
    local r = testenv.salesengine({ "--log-format", "xml", "-e", "x = 1" })
    assert.are.equal(2, r.code)
    assert.are.equal("salesengine: unknown log format 'xml' (logfmt or json)\n", r.stderr)
    r = testenv.salesengine({ "--log-level", "loud", "-e", "x = 1" })
    assert.are.equal("salesengine: unknown log level 'loud' (debug, info, warn, error or off)\n", r.stderr)
    r = testenv.salesengine({ "-e", "require('salesengine.log').configure{ format = 'yaml' }" })
    assert.are.equal(1, r.code)
    assert.matches("unknown log format 'yaml' %(logfmt or json%)", r.stderr)
  end)

  it("JSON log lines keep numbers and booleans as JSON numbers and booleans", function()
    local p = dir .. "/job.lua"
    testenv.write_file(p, [[
      local etl = require "salesengine.etl"
      etl.run { name = "j", source = etl.pages({ { { id = 1 }, { id = 2 }, { id = 3 } } }), dry_run = true,
        sink = { table = "t", key = { "id" } } }]])
    local r = testenv.salesengine({ "--log-format=json", p })
    assert.are.equal(0, r.code, r.stderr)
    local done
    for line in r.stderr:gmatch("[^\n]+") do
      local e = cjson.decode(line)
      if e.msg == "pipeline complete" then done = e end
    end
    assert.are.same({ 3, 3, 0, true, "ok" },
      { done.extracted, done.loaded, done.rejected, done.dry_run, done.identity })
    assert.are.equal("number", type(done.total_s))
  end)

  it("a JSON null indexed as a table says so, at the script's line", function()
    local r = testenv.salesengine({ "-e", "local rec = require('cjson').decode('{\"customer\": null}')\n" ..
      "return rec.customer.id" })
    assert.are.equal(1, r.code)
    assert.matches("^salesengine: %(command line%):2: attempt to index a JSON null %(key 'id'%): the data has " ..
      "null where a table was expected; tx.get%(rec, \"a.b\"%) reads a nested member that may be null\n", r.stderr)
  end)

  it("the command table of docs/lua-api.md has every option --help lists", function()
    local help = testenv.salesengine({ "--help" }).stdout
    local f = assert(io.open("docs/lua-api.md"))
    local doc = f:read("a")
    f:close()
    local table_text = doc:match("\n## The command\n.-\n| option | meaning |\n(.-)\n\n")
    local missing = {}
    for option in help:gmatch("\n  (%-%-?[%w-]+)") do
      if option ~= "--" and not table_text:find("`" .. option:gsub("%-", "%%-") .. "[` ]") then
        missing[#missing + 1] = option
      end
    end
    assert.are.same({}, missing)
  end)
end)
