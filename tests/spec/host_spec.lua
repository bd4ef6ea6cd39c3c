-- The salesengine command behaves like the lua interpreter, plus its own
-- options, error format and exit codes.
local testenv = dofile("tests/lib/testenv.lua")

local function write_script(dir, name, code)
  testenv.write_file(dir .. "/" .. name, code)
  return dir .. "/" .. name
end

describe("salesengine host", function()
  local dir
  before_each(function() dir = testenv.tmpdir() end)
  after_each(function() testenv.rm_rf(dir) end)

  it("prints its version with -v and help with -h", function()
    local r = testenv.salesengine({ "-v" })
    assert.are.equal(0, r.code)
    assert.matches("^salesengine %d+%.%d+%.%d+ %(Lua 5%.4", r.stdout)
    r = testenv.salesengine({ "--help" })
    assert.are.equal(0, r.code)
    assert.matches("usage: salesengine %[options%] %[script %[args%.%.%.%]%]", r.stdout)
    assert.matches("%-%-log%-format", r.stdout)
  end)

  it("asks mimalloc for large pages unless MIMALLOC_LARGE_OS_PAGES says otherwise", function()
    if os.getenv("SE_MIMALLOC") ~= "1" then
      pending("built without mimalloc (the sanitizers' build)")
      return
    end
    local function large_pages(env)
      env.MIMALLOC_VERBOSE = "1" -- mimalloc lists its options on standard error
      local r = testenv.salesengine({ "-e", "" }, { env = env })
      assert.are.equal(0, r.code)
      return r.stderr:match("option 'large_os_pages': (%d+)")
    end
    assert.are.equal("1", large_pages({}))
    assert.are.equal("0", large_pages({ MIMALLOC_LARGE_OS_PAGES = "0" }))
  end)

  it("starts the collector's cycles at a pause of 150 %, which a script may change", function()
    local r = testenv.salesengine({ "-e", 'print(collectgarbage("setpause", 180), collectgarbage("setpause", 150))' })
    assert.are.equal(0, r.code)
    -- setpause returns the pause it replaces; Lua keeps a pause in steps of 4 %, so 150 reads 148
    assert.are.equal("148\t180\n", r.stdout)
  end)

  it("rejects unknown options and a missing script with the usage exit code", function()
    local r = testenv.salesengine({ "--frobnicate", "x.lua" })
    assert.are.equal(2, r.code)
    assert.matches("unknown option '%-%-frobnicate'", r.stderr)
    r = testenv.salesengine({})
    assert.are.equal(2, r.code)
    assert.matches("usage:", r.stderr)
  end)

  it("builds arg and ... as lua.c does", function()
    local s = write_script(dir, "args.lua", [[
      local a, b = ...
      print(arg[0], arg[1], arg[2], a, b, select("#", ...), arg[-2] == "--log-level", arg[-1] == "warn", arg[-3] ~= nil)
    ]])
    local r = testenv.salesengine({ "--log-level", "warn", s, "one", "two words" })
    assert.are.equal(0, r.code)
    assert.are.equal(s .. "\tone\ttwo words\tone\ttwo words\t2\ttrue\ttrue\ttrue\n", r.stdout)
  end)

  it("runs -e chunks before the script, and a script from stdin", function()
    local s = write_script(dir, "g.lua", "print(X + 1)")
    local r = testenv.salesengine({ "-e", "X = 41", s })
    assert.are.equal("42\n", r.stdout)
    r = testenv.salesengine({ "-" }, { stdin = "print('from stdin', ...)" })
    assert.are.equal(0, r.code)
    assert.are.equal("from stdin\n", r.stdout)
  end)

  it("finds modules beside the script, from any working directory", function()
    write_script(dir, "helper.lua", "return { answer = 42 }")
    local s = write_script(dir, "main.lua", "print(require('helper').answer)")
    local r = testenv.run({ "sh", "-c", "cd / && exec " .. testenv.shquote(testenv.bin) .. " " .. s })
    assert.are.equal(0, r.code)
    assert.are.equal("42\n", r.stdout)
  end)

  it("reports a script error with file, line and traceback, exit code 1", function()
    local s = write_script(dir, "bad.lua", "local x = 1\nerror('kaboom')\n")
    local r = testenv.salesengine({ s })
    assert.are.equal(1, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("^salesengine: " .. s:gsub("%p", "%%%0") .. ":2: kaboom\nstack traceback:\n", r.stderr)
  end)

  it("reports a syntax error and a non-string error object", function()
    local r = testenv.salesengine({ write_script(dir, "syn.lua", "x = = 1") })
    assert.are.equal(1, r.code)
    assert.matches("syn%.lua:1: unexpected symbol near '='", r.stderr)
    r = testenv.salesengine({ write_script(dir, "obj.lua", "error({})") })
    assert.are.equal(1, r.code)
    assert.matches("%(error object is a table value%)", r.stderr)
  end)

  it("turns salesengine.fail into a one-line message and its exit code", function()
    local s = write_script(dir, "fail.lua", [[
      local se = require "salesengine"
      se.fail("load", "database unreachable", "08006")
    ]])
    local r = testenv.salesengine({ s })
    assert.are.equal(4, r.code)
    assert.are.equal("salesengine: database unreachable\n", r.stderr)
  end)

  it("fails with the usage code when a required environment variable is missing", function()
    local s = write_script(dir, "env.lua", "require('salesengine').getenv('SE_SURELY_UNSET_VAR')")
    local r = testenv.salesengine({ s }, { env = { SE_SURELY_UNSET_VAR = false } })
    assert.are.equal(2, r.code)
    assert.are.equal("salesengine: environment variable SE_SURELY_UNSET_VAR is not set\n", r.stderr)
  end)

  it("runs __close and __gc handlers when the script ends or fails", function()
    local s = write_script(dir, "close.lua", [[
      setmetatable({}, { __gc = function() io.stdout:write("gc\n") end })
      local h <close> = setmetatable({}, { __close = function() io.stdout:write("closed\n") end })
      if ... == "fail" then error("late failure") end
    ]])
    local r = testenv.salesengine({ s })
    assert.are.equal(0, r.code)
    assert.are.equal("closed\ngc\n", r.stdout)
    r = testenv.salesengine({ s, "fail" })
    assert.are.equal(1, r.code)
    assert.are.equal("closed\ngc\n", r.stdout)
  end)

  it("writes log lines in logfmt or JSON, at the chosen level", function()
    local s = write_script(dir, "log.lua", [[
      local log = require "salesengine.log"
      log.debug("hidden")
      log.info("loaded", { rows = 3, table = "fact sales" })
    ]])
    local r = testenv.salesengine({ s })
    assert.are.equal(0, r.code)
    assert.matches("^ts=%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ level=info msg=loaded rows=3 " ..
      "table=\"fact sales\"\n$", r.stderr)
    r = testenv.salesengine({ "--log-format=json", "--log-level=debug", s })
    local cjson = require "cjson"
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do
      lines[#lines + 1] = cjson.decode(line)
    end
    assert.are.equal(2, #lines)
    assert.are.equal("hidden", lines[1].msg)
    assert.are.equal("debug", lines[1].level)
    assert.are.equal(3, lines[2].rows) -- a number stays a number (issue 15)
    r = testenv.salesengine({ "--log-level=loud", s })
    assert.are.equal(2, r.code)
    assert.matches("unknown log level 'loud'", r.stderr)
  end)

  it("has cjson and the engine modules built in", function()
    local code = "print(require('cjson').encode({1,2}), type(require('salesengine.sys').monotonic()))"
    local r = testenv.salesengine({ "-e", code },
      { env = { LUA_CPATH = "/nonexistent/?.so", LUA_CPATH_5_4 = "/nonexistent/?.so" } })
    assert.are.equal(0, r.code)
    assert.are.equal("[1,2]\tnumber\n", r.stdout)
  end)
  it("makes an undefined global in the script an error with file and line, unless --no-strict", function()
    local s = write_script(dir, "typo.lua", "local records = {1}\nprint(#recrods)\n")
    local r = testenv.salesengine({ s })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(s .. ":2: undefined global 'recrods'", 1, true), r.stderr)
    s = write_script(dir, "assign.lua", "local n = 1\ntotal = n\n")
    r = testenv.salesengine({ s })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(s .. ":2: assignment to undefined global 'total'", 1, true), r.stderr)
    r = testenv.salesengine({ "--no-strict", s })
    assert.are.equal(0, r.code, r.stderr)
    s = write_script(dir, "declared.lua", "_G.total = 0\ntotal = total + 1\nprint(total)\n")
    r = testenv.salesengine({ s })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1\n", r.stdout)
  end)

  it("passes run options to scripts through salesengine.sys.options()", function()
    local s = write_script(dir, "opts.lua", [[
      local o = require("salesengine.sys").options()
      print(o.dry_run, o.quiet, o.strict, o.summary_json)
    ]])
    local r = testenv.salesengine({ "--dry-run", "--quiet", "--summary-json", "/tmp/s.json", s })
    assert.are.equal("true\ttrue\ttrue\t/tmp/s.json\n", r.stdout)
    r = testenv.salesengine({ "--no-strict", s })
    assert.are.equal("false\tfalse\tfalse\tnil\n", r.stdout)
    r = testenv.salesengine({ "--summary-json" })
    assert.are.equal(2, r.code)
    assert.matches("option '%-%-summary%-json' needs an argument", r.stderr)
  end)
  it("stops cleanly on SIGTERM and SIGINT: __close runs, exit code 130, a log line says so", function()
    local s = write_script(dir, "loop.lua", [[
      local sys = require "salesengine.sys"
      local tx <close> = setmetatable({}, { __close = function() io.stdout:write("rolled back\n") end })
      io.stdout:write("started\n")
      io.stdout:flush()
      while true do sys.sleep(0.01) end
    ]])
    for _, sig in ipairs({ "TERM", "INT" }) do
      local out = dir .. "/out." .. sig
      local cmd = string.format("%s %s >%s 2>&1 & pid=$!; " ..
        "for i in $(seq 100); do grep -q started %s 2>/dev/null && break; sleep 0.05; done; " ..
        "kill -%s $pid; wait $pid; echo \"exit=$?\" >>%s",
        testenv.shquote(testenv.bin), s, out, out, sig, out)
      local r = testenv.run({ "sh", "-c", cmd })
      assert.are.equal(0, r.code)
      local text = testenv.read_file(out)
      assert.matches("rolled back\n", text)
      assert.matches("level=warn msg=\"run interrupted; work not yet committed is rolled back\"", text)
      assert.matches("salesengine: interrupted by SIG" .. sig .. "\n", text)
      assert.matches("exit=130\n$", text)
    end
  end)
end)
