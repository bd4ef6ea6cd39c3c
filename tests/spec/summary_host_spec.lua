-- Issue 15, point 3: --summary-json is written (atomically) on every exit of
-- the salesengine command — usage errors, a missing variable before
-- etl.run, script errors, interruptions — with status, exit_code and the
-- error, and a previous run's file is never left in place.
local testenv = dofile("tests/lib/testenv.lua")
local cjson = require "cjson"

describe("--summary-json on every exit", function()
  local dir, path

  before_each(function()
    dir = testenv.tmpdir()
    path = dir .. "/summary.json"
    -- what a previous, successful run left
    testenv.write_file(path, '{"status": "ok", "exit_code": 0, "pipeline": "old"}\n')
  end)
  after_each(function() testenv.rm_rf(dir) end)

  -- Runs salesengine --summary-json <path> args...; returns the result and the decoded file.
  local function run(args, opts)
    local argv = { "--summary-json", path }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local r = testenv.salesengine(argv, opts)
    return r, cjson.decode(testenv.read_file(path))
  end

  local function script(code)
    local p = dir .. "/job.lua"
    testenv.write_file(p, code)
    return p
  end

  local function assert_failed(s, code, kind, message)
    assert.are.same({ "failed", code, kind, message }, { s.status, s.exit_code, s.error.kind, s.error.message })
    assert.is_nil(s.pipeline, "the previous run's file was left in place")
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", s.finished_at)
  end

  it("a usage error on the command line", function()
    local r, s = run({ "--frobnicate", script("print(1)") })
    assert.are.equal(2, r.code)
    assert_failed(s, 2, "usage", "unknown option '--frobnicate'")
    r, s = run({})
    assert.are.equal(2, r.code)
    assert_failed(s, 2, "usage", "no script given")
    r, s = run({ "--log-format", "xml", script("print(1)") })
    assert.are.equal(2, r.code)
    assert.are.equal("usage", s.error.kind)
  end)

  it("a missing variable before etl.run", function()
    local r, s = run({ script('require("salesengine").getenv("SE_TEST_NOT_SET")') },
      { env = { SE_TEST_NOT_SET = false } })
    assert.are.equal(2, r.code, r.stderr)
    assert_failed(s, 2, "usage", "environment variable SE_TEST_NOT_SET is not set")
  end)

  it("a script error, without its traceback", function()
    local p = script("local x = nil\nreturn x.y")
    local r, s = run({ p })
    assert.are.equal(1, r.code)
    assert.matches("stack traceback", r.stderr)
    assert_failed(s, 1, "script", p .. ":2: attempt to index a nil value (local 'x')")
  end)

  it("an interruption before any pipeline ran", function()
    local p = script('io.stderr:write("sleeping\\n"); require("salesengine.sys").sleep(30)')
    local r = testenv.run({ "sh", "-c", string.format([[
      %s --summary-json %s %s 2>%s/err & pid=$!
      while ! grep -q sleeping %s/err; do sleep 0.05; done
      kill -INT $pid; wait $pid]], testenv.shquote(testenv.bin), testenv.shquote(path), testenv.shquote(p), dir, dir) })
    assert.are.equal(130, r.code)
    assert_failed(cjson.decode(testenv.read_file(path)), 130, "interrupted", "interrupted by SIGINT")
  end)

  it("a run that succeeded, then a script that failed: the run's figures, the process's outcome", function()
    local r, s = run({ script([[
      local etl = require "salesengine.etl"
      etl.run { name = "first", source = etl.pages({ { { id = 1 }, { id = 2 } } }), dry_run = true,
        sink = { table = "t", key = { "id" } } }
      error("after the run")]]) })
    assert.are.equal(1, r.code)
    assert.are.same({ "failed", 1, "script", "first", 2, true }, { s.status, s.exit_code, s.error.kind, s.pipeline,
      s.extracted, s.dry_run })
    assert.matches(":4: after the run$", s.error.message)
  end)

  it("a successful run replaces the file too; nothing is left beside it", function()
    local r, s = run({ script("print('fine')") })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "ok", 0 }, { s.status, s.exit_code })
    assert.is_nil(s.error)
    assert.is_nil(s.pipeline, "the previous run's file was left in place")
    local ls = io.popen("ls " .. testenv.shquote(dir))
    assert.are.equal("job.lua\nsummary.json\n", ls:read("a"))
    ls:close()
  end)

  it("a file that cannot be written is reported; the exit code stays the run's", function()
    local r = testenv.salesengine({ "--summary-json", dir .. "/no/such/dir/s.json", script("print(1)") })
    assert.are.equal(0, r.code)
    assert.matches("salesengine: cannot write the summary file: cannot write the summary: ", r.stderr)
  end)
end)
