-- Every way a JSON document reaches a script reads it the same: json.decode (a tape), a document
-- past the 4 M tokens of a tape made ahead, decode options with fields, http.get_json,
-- http.fetch_all (a tape made on the fetch worker), http.records (the streaming parser) and JSON
-- Lines. Each refuses what RFC 8259 does not have with the same "invalid JSON at byte N: ..."
-- (json_spec.lua pins json.decode's messages), and each gives the same exact numbers.
--   build/salesengine /usr/bin/busted tests/spec/json_paths_spec.lua
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local http = require "salesengine.http"
local json = require "salesengine.json"
local tx = require "salesengine.transform"

-- The forms a partner's feed may send that are not JSON (issue 18), each inside a record.
local BAD = { "NaN", "Infinity", "-Infinity", "0x10", "+1", "01", "-01", ".5", "2.", "2.e3", '"a\tb"', '"a\nb"',
  '"\\ud800"', "1,\v2" }
-- One form of each check that refuses them (yajl's lexer, the strict number, control character,
-- surrogate and white space checks) also goes through the large document's paths, whose offset
-- arithmetic does not depend on the form: each large case parses 8 MB three times.
local BAD_LARGE = { ["NaN"] = true, ["01"] = true, ['"a\tb"'] = true, ['"\\ud800"'] = true, ["1,\v2"] = true }

-- 4.2 M tokens ahead of the records: past what the fetch worker parses ahead.
local PAD = '{"pad":[' .. string.rep("0,", 4200000) .. '0],'

local function doc(value, padded)
  return (padded and PAD or "{") .. '"sales":[{"id":1},{"id":2,"v":' .. value .. "}]}"
end

-- json.decode's message for text.
local function decode_error(text)
  local ok, err = pcall(json.decode, text)
  assert.is_false(ok, "json.decode accepted " .. text:sub(-60))
  return err
end

-- Every batch of an http.records source, until the end or a failure: records, err, code.
local function drain(source)
  local all = {}
  while true do
    local batch, err, code = source()
    if batch == nil then
      return all, err, code
    end
    table.move(batch, 1, #batch, #all + 1, all)
  end
end

describe("every JSON path", function()
  local api, root

  setup(function()
    root = testenv.tmpdir()
    api = api_fixture.start({ root = root })
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(root)
  end)

  -- Serves text at /name and returns its URL.
  local function serve(name, text)
    testenv.write_file(root .. "/" .. name, text)
    return api.url .. "/" .. name
  end

  it("refuses each form that is not JSON with the same message and byte offset", function()
    local large = 0
    for _, bad in ipairs(BAD) do
      local small = doc(bad)
      local msg = decode_error(small)
      local n = tonumber(msg:match("^invalid JSON at byte (%d+): "))
      assert(n, msg)
      local cases = { { serve("bad.json", small), msg } }
      if BAD_LARGE[bad] then
        local big = doc(bad, true)
        local big_msg = decode_error(big)
        assert.are.equal(msg:gsub("byte %d+", "byte " .. (n + #PAD - 1), 1), big_msg, bad .. " (a large document)")
        cases[2] = { serve("big.json", big), big_msg }
        large = large + 1
      end
      local ok, err = pcall(json.decode, small, { records = "sales", fields = { "id" } })
      assert.are.same({ false, msg }, { ok, err }, bad .. " (with fields)")

      local url = cases[1][1]
      local got = table.pack(http.get_json(url))
      assert.are.same({ nil, "GET " .. url .. ": " .. msg, "JSON" }, { got[1], got[2], got[3] }, bad .. " (get_json)")
      got = table.pack(http.get_json(url, { json = { records = "sales", fields = { "id" } } }))
      assert.are.same({ nil, "GET " .. url .. ": " .. msg, "JSON" }, { got[1], got[2], got[3] },
        bad .. " (get_json, fields)")
      for _, case in ipairs(cases) do
        for _, item, ferr, fcode in http.fetch_all({ case[1] }, { json = true }) do
          assert.are.same({ nil, "GET " .. case[1] .. ": " .. case[2], "JSON" }, { item, ferr, fcode },
            bad .. " (fetch_all)")
        end
      end

      local records, serr, scode = drain(http.records(url, { records = "sales", batch = 1 }))
      assert.are.same({ 1, "GET " .. url .. " failed: " .. msg, "JSON" }, { #records, serr, scode },
        bad .. " (http.records)")
      local lines = '{"id":1}\n{"id":2,"v":' .. bad .. "}\n"
      local line_msg = decode_error('{"id":2,"v":' .. bad .. "}"):gsub("byte (%d+)", function(b)
        return "byte " .. (tonumber(b) + 9)
      end, 1)
      local lines_url = serve("bad.ndjson", lines)
      records, serr, scode = drain(http.records(lines_url, { batch = 1 }))
      assert.are.same({ 1, "GET " .. lines_url .. " failed: " .. line_msg, "JSON" }, { #records, serr, scode },
        bad .. " (JSON Lines)")
    end
    assert.are.equal(5, large, "forms also sent in a large document")
  end)

  it("refuses two values on one line of JSON Lines, so 01 is not two records", function()
    for _, line in ipairs({ "01", "-01", "1 2", "{} {}", '"a""b"' }) do
      local url = serve("two.ndjson", '{"id":1}\n' .. line .. "\n")
      local records, err, code = drain(http.records(url, { batch = 1 }))
      assert.are.equal(1, #records, line)
      assert.are.equal("JSON", code, line)
      assert.matches("failed: invalid JSON at byte %d+: a second value on one line of JSON Lines", err)
    end
  end)

  -- The numbers of issue 18 and what each decodes to; tx.text of each.
  local NUMBERS = {
    { "9007199254740993", 9007199254740993, "9007199254740993" },           -- 2^53 + 1
    { "9007199254740992", 9007199254740992, "9007199254740992" },
    { "9223372036854775807", math.maxinteger, "9223372036854775807" },      -- 2^63 - 1
    { "-9223372036854775808", math.mininteger, "-9223372036854775808" },    -- -2^63
    { "9223372036854775808", "9223372036854775808", "9223372036854775808" }, -- 2^63: kept as text
    { "18446744073709551617", "18446744073709551617", "18446744073709551617" }, -- 2^64 + 1
    { "1e20", 1e20, "1e20" },
    { "-0", 0, "0" },
    { "1.0", 1.0, "1" },
    { "9007199254740993.0", "9007199254740993.0", "9007199254740993.0" }, -- no float is it
  }

  -- Asserts that the records hold the numbers, exactly (math.type too), in order.
  local function holds_numbers(records, where)
    assert.are.equal(#NUMBERS, #records, where)
    for i, case in ipairs(NUMBERS) do
      local got, want = records[i].id, case[2]
      assert.are.equal(math.type(want) or type(want), math.type(got) or type(got), where .. " " .. case[1])
      assert.are.equal(want, got, where .. " " .. case[1])
      assert.are.equal(case[3], tx.text(got, "id"), where .. " " .. case[1] .. " (tx.text)")
    end
  end

  it("gives the same exact numbers", function()
    local items = {}
    for i, case in ipairs(NUMBERS) do
      items[i] = '{"id":' .. case[1] .. ',"n":' .. i .. "}"
    end
    local text = '{"sales":[' .. table.concat(items, ",") .. "]}"
    local big = PAD .. text:sub(2)
    holds_numbers(json.decode(text).sales, "json.decode")
    holds_numbers(json.decode(big).sales, "json.decode, a large document")
    holds_numbers(json.decode(text, { records = "sales", fields = { "id" } }).sales, "json.decode, fields")
    local url, big_url = serve("numbers.json", text), serve("numbers_big.json", big)
    holds_numbers(assert(http.get_json(url)).sales, "get_json")
    holds_numbers(assert(http.get_json(url, { json = { records = "sales", fields = { "id" } } })).sales,
      "get_json, fields")
    holds_numbers(assert(http.get_json(url, { json = { records = "sales" } })).sales, "get_json, records as read")
    for _, u in ipairs({ url, big_url }) do
      for _, resp, err in http.fetch_all({ u }, { json = true }) do
        holds_numbers(assert(resp, err).data.sales, "fetch_all " .. u)
      end
    end
    holds_numbers(assert(drain(http.records(url, { records = "sales", batch = 3 }))), "http.records")
    holds_numbers(assert(drain(http.records(url, { records = "sales", project = false }))), "http.records, full")
    holds_numbers(assert(drain(http.records(serve("numbers.ndjson", table.concat(items, "\n"))))), "JSON Lines")
  end)
end)
