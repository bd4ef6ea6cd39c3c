-- The parts of salesengine.etl on their own: the progress line, max_rejects
-- parsing, the summary, and the fakes of salesengine.testing.
local progress = require "salesengine.etl_progress"
local rejects = require "salesengine.etl_rejects"
local summary = require "salesengine.etl_summary"
local testing = require "salesengine.testing"
local load = require "salesengine.etl_load"

-- A file-like sink collecting what is written.
local function sink()
  local out = { text = "" }
  function out.write(self, ...)
    for _, s in ipairs({ ... }) do self.text = self.text .. s end
    return self
  end
  function out.flush() end
  return out
end

describe("the progress line", function()
  it("redraws in place at most every interval and ends with a newline", function()
    local now = 100
    local out = sink()
    local p = progress.new({ enabled = true, name = "sales", clock = function() return now end, out = out,
      interval = 0.5 })
    now = 102
    p:update({ pages = 1, records = 500, rejected = 0 })
    now = 102.1
    p:update({ pages = 2, records = 1000, rejected = 0 }) -- too soon: not drawn
    now = 104
    p:update({ pages = 3, records = 2000, rejected = 1 })
    p:finish({ pages = 3, records = 2000, rejected = 1 })
    assert.are.equal("\rsales: pages=1 records=500 (250/s) rejects=0 elapsed=2.0s\27[K" ..
      "\rsales: pages=3 records=2000 (500/s) rejects=1 elapsed=4.0s\27[K" ..
      "\rsales: pages=3 records=2000 (500/s) rejects=1 elapsed=4.0s\27[K\n", out.text)
  end)

  it("writes nothing when disabled (not a terminal, or --quiet)", function()
    local out = sink()
    local p = progress.new({ enabled = false, name = "x", clock = os.clock, out = out })
    p:update({ pages = 1, records = 1, rejected = 0 })
    p:clear()
    p:finish({ pages = 1, records = 1, rejected = 0 })
    assert.are.equal("", out.text)
  end)

  it("erases itself before a log line", function()
    local out = sink()
    local p = progress.new({ enabled = true, name = "x", clock = function() return 0 end, out = out })
    p:clear()
    assert.are.equal("", out.text)
    p:update({ pages = 1, records = 1, rejected = 0 })
    out.text = ""
    p:clear()
    assert.are.equal("\r\27[K", out.text)
  end)
end)

describe("max_rejects", function()
  it("is a count, a fraction or a percentage", function()
    assert.are.same({ fraction = 0.01, text = "1%" }, rejects.parse_limit(nil))
    assert.are.same({ count = 10 }, rejects.parse_limit(10))
    assert.are.same({ count = 10 }, rejects.parse_limit("10"))
    assert.are.same({ fraction = 0.05 }, rejects.parse_limit(0.05))
    assert.are.same({ fraction = 0.025, text = "2.5%" }, rejects.parse_limit("2.5%"))
    assert.are.equal("2.5%", rejects.describe_limit(rejects.parse_limit("2.5%")))
    assert.are.equal("5%", rejects.describe_limit(rejects.parse_limit(0.05)))
    for _, bad in ipairs({ -1, 1.5, "lots", "150%", {} }) do
      assert.has_error(function() rejects.parse_limit(bad) end)
    end
  end)

  it("trips on more rejects than allowed, never on exactly the limit", function()
    local r = rejects.new({ limit = rejects.parse_limit(2), dest = {}, now = function() return "t" end })
    for _ = 1, 2 do r:add({ stage = "transform", index = 1, reason = "bad", record = {} }) end
    assert.is_false(r:over_count())
    r:add({ stage = "transform", index = 3, reason = "bad", record = {} })
    assert.is_true(r:over_count())
    local f = rejects.new({ limit = rejects.parse_limit("10%"), dest = {}, now = function() return "t" end })
    f:add({ stage = "transform", index = 1, reason = "bad", record = {} })
    assert.is_false(f:over_count())
    assert.is_false(f:over_limit(10))
    assert.is_true(f:over_limit(9))
  end)
end)

describe("dead-letter text", function()
  it("replaces invalid UTF-8 and NUL bytes by U+FFFD and keeps valid text as it is", function()
    assert.are.equal("em\u{FFFD}ea", rejects.clean_text("em\xffea"))
    assert.are.equal("a\u{FFFD}b", rejects.clean_text("a\0b"))
    assert.are.equal("\u{FFFD}\u{FFFD}x", rejects.clean_text("\xc3\xc3x"))
    assert.are.equal("中文 😀 ok", rejects.clean_text("中文 😀 ok"))
    assert.are.equal(42, rejects.clean_text(42))
  end)
end)

describe("which load errors are one record's fault", function()
  it("isolates data, constraint, too-large and unsendable values, nothing else", function()
    for _, code in ipairs({ "22003", "22021", "23505", "23502", "54000", "INVALID" }) do
      assert.is_true(load.isolatable(code), code)
    end
    for _, code in ipairs({ "08006", "08003", "42P01", "57P01", "53100", "TIMEOUT" }) do
      assert.is_false(load.isolatable(code), code)
    end
    assert.is_false(load.isolatable(nil))
  end)
end)

describe("the summary", function()
  it("holds the count identity and formats times in UTC", function()
    local s = summary.build({
      run_id = "r1", pipeline = "p", dry_run = false, started_at = 1767225600.25, finished_at = 1767225601.5,
      counts = { pages = 2, extracted = 10, loaded = 7, skipped = 2, rejected = 1 },
      tables = {}, timings = { extract = 0.1234, transform = 0.2, load = 0.3, total = 0.7 },
      rejects_to = "etl_rejects", max_rejects = "1",
    })
    assert.are.same({ "ok", true, "2026-01-01T00:00:00.250Z", "2026-01-01T00:00:01.500Z", 0.123 },
      { s.status, s.identity_ok, s.started_at, s.finished_at, s.timings.extract_s })
    local f = summary.log_fields(s)
    assert.are.same({ "ok", 10, 7, 2, 1, "etl_rejects" },
      { f.identity, f.extracted, f.loaded, f.skipped, f.rejected, f.rejects_to })
  end)
end)

describe("the fake pg", function()
  it("upserts with composite keys, update lists and skip_unchanged, and counts", function()
    local db = testing.fake_pg()
    local conn = assert(db.connect("fake"))
    local opts = { key = { "a", "b" }, update = { "v" }, skip_unchanged = true }
    assert.are.same({ inserted = 2, updated = 0, unchanged = 0 },
      conn:upsert("t", { { a = 1, b = 1, v = "x", w = 1 }, { a = 1, b = 2, v = "y", w = 1 } }, opts))
    assert.are.same({ inserted = 0, updated = 1, unchanged = 1 },
      conn:upsert("t", { { a = 1, b = 1, v = "x", w = 9 }, { a = 1, b = 2, v = "z", w = 9 } }, opts))
    assert.are.same({ a = 1, b = 2, v = "z", w = 1 }, db:row("t", { "a", "b" }, { 1, 2 }))
  end)

  it("rolls back to savepoints, and refuses everything after an error until then", function()
    local db = testing.fake_pg()
    db:refuse(function(_, row) if row.v == "bad" then return "value too long", "22001" end end)
    local conn = assert(db.connect("fake"))
    conn:exec("BEGIN")
    conn:upsert("t", { { k = 1, v = "a" } }, { key = { "k" } })
    conn:exec("SAVEPOINT s")
    conn:upsert("t", { { k = 2, v = "b" } }, { key = { "k" } })
    local ok, err, code = conn:upsert("t", { { k = 3, v = "bad" } }, { key = { "k" } })
    assert.are.same({ nil, "22001" }, { ok, code })
    assert.matches("value too long", err)
    assert.are.same({ nil, "25P02" }, { select(1, conn:exec("SELECT 1")), select(3, conn:exec("SELECT 1")) })
    assert.is_true(conn:exec("ROLLBACK TO SAVEPOINT s"))
    assert.are.equal(1, #db:rows("t"))
    conn:exec("ROLLBACK")
    assert.are.equal(0, #db:rows("t"))
    conn:close()
    assert.has_error(function() conn:exec("SELECT 1") end, "attempt to use a closed connection")
  end)
end)

describe("the fake http", function()
  it("serves fault sequences with retries and records the calls", function()
    local http = testing.fake_http({
      ["http://x/a?page=2"] = { { status = 503 }, { status = 429 }, { json = { ok = true } } },
      ["http://x/gone"] = { status = 404 },
    })
    local data, resp = http.get_json("http://x/a", { query = { page = 2 } })
    assert.are.same({ ok = true }, data)
    assert.are.equal(3, resp.attempts)
    assert.are.equal(3, http:count("http://x/a?page=2"))
    local none, err, code = http.get("http://x/gone")
    assert.are.same({ nil, "HTTP_404", 1 }, { none, code, http:count("http://x/gone") })
    assert.matches("GET http://x/gone: HTTP 404", err)
    local _, err2, code2 = http.get("http://x/nothing", { retry = { attempts = 2 } })
    assert.are.equal("HTTP_404", code2)
    assert.truthy(err2)
  end)

  it("fetches lists in order", function()
    local http = testing.fake_http({ ["http://x/1"] = { json = { 1 } }, ["http://x/2"] = { json = { 2 } } })
    local got = {}
    for i, resp in http.fetch_all({ "http://x/1", "http://x/2" }, { json = true }) do
      got[i] = resp.data[1]
    end
    assert.are.same({ 1, 2 }, got)
  end)
end)
