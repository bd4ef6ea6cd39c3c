-- salesengine.json.decode against a reference decoder written from RFC 8259 (tests/lib/json_reference.lua):
-- the same values for many generated documents (numbers exact: integers within 64 bits as Lua integers,
-- other numbers as floats only when no other number gives the same float, else their source text),
-- the same documents refused, each with "invalid JSON at byte N: ...".
--   build/salesengine /usr/bin/busted tests/spec/json_spec.lua
local has_json = pcall(require, "salesengine.json")

describe("salesengine.json", function()
  if not has_json then
    pending("salesengine.json is only inside the engine")
    return
  end
  local json = require "salesengine.json"
  local cjson = require "cjson"
  local ref = dofile("tests/lib/json_reference.lua")

  -- Whether a and b are the same JSON value as Lua sees it: same types (math.type included),
  -- numbers equal bit for bit (NaN aside, -0.0 apart from 0.0), tables with the same keys.
  local function same(a, b, path)
    path = path or "$"
    if type(a) ~= type(b) then
      return false, path .. ": " .. type(a) .. " vs " .. type(b)
    end
    if type(a) == "number" then
      if math.type(a) ~= math.type(b) or string.pack("n", a) ~= string.pack("n", b) then
        return false, path .. ": " .. string.format("%s %q vs %s %q", math.type(a), a, math.type(b), b)
      end
      return true
    end
    if type(a) ~= "table" then
      return a == b, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
    end
    if getmetatable(a) ~= getmetatable(b) then
      return false, path .. ": metatables differ"
    end
    for k, v in pairs(a) do
      local ok, why = same(v, b[k], path .. "." .. tostring(k))
      if not ok then
        return false, why
      end
    end
    for k in pairs(b) do
      if a[k] == nil then
        return false, path .. "." .. tostring(k) .. ": missing"
      end
    end
    return true
  end

  -- Asserts that json.decode and the reference agree on text: the same value, or both refuse it,
  -- json.decode with "invalid JSON at byte N: ..." where N is the offset of the byte the reference
  -- stops at, or at most one past the end of the token that byte is in.
  local function agree(text)
    local ok, got = pcall(json.decode, text)
    local want, at, token = ref.decode(text, cjson.decode_max_depth())
    local shown = ("%q"):format(text:sub(1, 200))
    assert.are.equal(want ~= nil, ok, "accepted by one decoder only: " .. shown .. " " .. tostring(got))
    if ok then
      local same_value, why = same(got, want)
      assert(same_value, "different values for " .. shown .. ": " .. tostring(why))
    else
      local n = tonumber(tostring(got):match("^invalid JSON at byte (%d+): ."))
      assert(n and n >= at and n <= ref.token_end(text, token) + 1,
        shown .. ": the reference stops at byte " .. at .. ", not " .. tostring(got))
    end
  end

  -- A deterministic generator of JSON texts, with the forms real APIs send and some they should not.
  local seed = 12345
  local function rand(n)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
  end
  local function pick(list)
    return list[rand(#list)]
  end
  local string_parts = { "a", "Z", " ", "é", "€", "😀", "\\n", "\\t", "\\\"", "\\\\", "\\/", "\\u00e9",
    "\\u20AC", "\\ud83d\\ude00", "\\u0000", "\\b", "\\f", "\\r", "emea", "2024-01-08T02:11:59+05:30", "" }
  local number_forms = { "0", "-0", "1", "-1", "17", "1.0", "1047.3", "1047.61", "0.1", "0.30000000000000004",
    "0.10000000000000001", "1e3", "1E-3", "-2.5e+10", "9007199254740992", "9007199254740993", "-9007199254740993",
    "9007199254740993.0", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    "-9223372036854775809", "18446744073709551617", "12345678901234567890", "1e20", "1e22", "1e23", "4.9e-324",
    "5e-324", "1.7976931348623157e308", "1e400", "-1e400", "1e-400", "123456789012.345678", "0.000001",
    "3.14159265358979", "2.2250738585072014e-308", "100000000000000000000000000000" }
  local function gen_string()
    local parts = {}
    for i = 1, rand(6) - 1 do
      parts[i] = pick(string_parts)
    end
    return '"' .. table.concat(parts) .. '"'
  end
  local function gen_number()
    if rand(3) == 1 then
      local digits = {}
      for i = 1, rand(20) do
        digits[i] = tostring(rand(10) - 1)
      end
      local s = (rand(2) == 1 and "-" or "") .. (digits[1] == "0" and #digits > 1 and "1" or "") .. table.concat(digits)
      if rand(2) == 1 then
        s = s .. "." .. tostring(rand(100000))
      end
      if rand(3) == 1 then
        s = s .. pick({ "e", "E" }) .. pick({ "", "+", "-" }) .. tostring(rand(330) - 1)
      end
      return s
    end
    return pick(number_forms)
  end
  local gen_value
  local function gen_container(depth)
    local items = {}
    if rand(2) == 1 then
      for i = 1, rand(6) - 1 do
        items[i] = gen_value(depth + 1)
      end
      return "[" .. table.concat(items, pick({ ",", ", ", " ,\n" })) .. "]"
    end
    for i = 1, rand(6) - 1 do
      items[i] = gen_string() .. pick({ ":", " : " }) .. gen_value(depth + 1)
    end
    return "{" .. table.concat(items, ",") .. "}"
  end
  function gen_value(depth)
    local r = rand(depth < 4 and 10 or 7)
    if r <= 2 then
      return gen_string()
    elseif r <= 4 then
      return gen_number()
    elseif r == 5 then
      return pick({ "true", "false", "null" })
    elseif r <= 7 and depth >= 4 then
      return gen_string()
    end
    return gen_container(depth)
  end

  it("decodes 3,000 generated documents as the reference does", function()
    for _ = 1, 3000 do
      agree(pick({ "", " ", "\n\t" }) .. gen_value(0) .. pick({ "", " ", "\r\n" }))
    end
  end)

  it("refuses every broken form of generated documents", function()
    for _ = 1, 600 do
      local text = gen_value(0)
      local cut = rand(#text + 1) - 1
      agree(text:sub(1, cut)) -- truncated
      agree(text:sub(1, cut) .. pick({ "}", "]", ",", ":", "x", "\0", "\1", "\t", "\n", "\v", "\f", "\255", "'",
        "0", "+", ".", "e", "-" }) .. text:sub(cut + 1))
    end
  end)

  it("refuses what RFC 8259 does not have, naming the byte", function()
    local function refused(text, message)
      local ok, err = pcall(json.decode, text)
      assert.is_false(ok, text)
      assert.are.equal(message, err)
      agree(text)
    end
    refused("[NaN]", "invalid JSON at byte 2: lexical error: invalid char in json text.")
    refused("[Infinity]", "invalid JSON at byte 2: lexical error: invalid char in json text.")
    refused("[-Infinity]",
      "invalid JSON at byte 2: lexical error: malformed number, a digit is required after the minus sign.")
    refused("[0x10]", "invalid JSON at byte 3: lexical error: invalid char in json text.")
    refused("0x10", "invalid JSON at byte 1: parse error: trailing garbage")
    refused("[+1]", "invalid JSON at byte 2: lexical error: invalid char in json text.")
    refused("[01]", "invalid JSON at byte 3: parse error: after array element, I expect ',' or ']'")
    refused("[-01]", "invalid JSON at byte 4: parse error: after array element, I expect ',' or ']'")
    refused("01", "invalid JSON at byte 1: parse error: trailing garbage")
    refused("[.5]", "invalid JSON at byte 2: lexical error: invalid char in json text.")
    refused("[2.]",
      "invalid JSON at byte 3: lexical error: malformed number, a digit is required after the decimal point.")
    refused("[2.e3]",
      "invalid JSON at byte 3: lexical error: malformed number, a digit is required after the decimal point.")
    refused('["a\tb"]', "invalid JSON at byte 3: lexical error: invalid character inside string.")
    refused('{"a":"x\ny"}', "invalid JSON at byte 7: lexical error: invalid character inside string.")
    refused("[1,\v2]", "invalid JSON at byte 3: a raw \\v byte is not JSON white space")
    refused("\f[1]", "invalid JSON at byte 0: a raw \\f byte is not JSON white space")
    refused('["\\ud800"]',
      "invalid JSON at byte 8: a \\u escape of half a UTF-16 surrogate pair without the other half")
    refused("[1]x", "invalid JSON at byte 3: parse error: trailing garbage")
    refused('[1]"x', "invalid JSON at byte 3: parse error: trailing garbage")
    refused("", "invalid JSON at byte 0: parse error: premature EOF")
    for _, text in ipairs({ '"\\udc00"', '"\\ud83d"', '"\\ud83dx"', '["\\ud83d\\u0041"]', '"a\1b"', "[inf]",
      "[nan]", "[1e]", "/*c*/[1]", "[1]//c", "[1] [2]", "\239\187\191[1]", '"\\u00"', '"\\x41"', '"\\', "[",
      "{", "{\"a\"}", "{1:2}", "{\"a\":}", "[1,]", "{\"a\":1,}", "nul", "tru", "fals", '1"', '1"abc', '{}"',
      'true "', '":2-"":null}', '"a"""', "[-]", "[1e+]", "[- 1]", "['a']" }) do
      agree(text)
    end
  end)

  it("accepts what RFC 8259 has, also where decoders differ", function()
    for _, text in ipairs({ '"\\ud83d\\ude00"', '"\\\\ud800"', '"\255\254"', '"\237\160\128"', '"\127"',
      "{\"a\":1,\"a\":2}", "{}", "[]", "[[]]", "[{}]", '""', "null", "true", "  17  ", "-0", "{\"\":0}",
      "[\"\\u0000\"]", "[1] \r\n", "[1E5,1e-5,1E+5,-0.0,0e0]" }) do
      assert(json.decode(text) ~= nil, text)
      agree(text)
    end
  end)

  it("gives integers exactly and keeps the digits of numbers no float holds", function()
    local doc = json.decode("[9007199254740993, 9007199254740992, 9223372036854775807, -9223372036854775808,"
      .. " 9223372036854775808, 18446744073709551617, 1e20, -0, 1.0, 9007199254740993.0, 0.1, 1e400]")
    local want = { 9007199254740993, 9007199254740992, math.maxinteger, math.mininteger, "9223372036854775808",
      "18446744073709551617", 1e20, 0, 1.0, "9007199254740993.0", 0.1, "1e400" }
    assert(same(doc, want))
    assert.are_not.equal(doc[1], doc[2]) -- two ids, two values
    assert.are.equal("integer", math.type(doc[8]))
    assert.are.equal("float", math.type(doc[9]))
  end)

  it("follows cjson's nesting limit, also when the script changes it", function()
    agree(("["):rep(1000) .. ("]"):rep(1000))
    agree(("["):rep(1001) .. ("]"):rep(1001))
    agree(('{"a":'):rep(1001) .. "1" .. ("}"):rep(1001))
    cjson.decode_max_depth(5)
    local ok, err = pcall(function()
      agree("[[[[[1]]]]]")
      agree("[[[[[[1]]]]]]")
    end)
    cjson.decode_max_depth(1000)
    assert(ok, err)
    assert.has_error(function()
      json.decode(("["):rep(1001) .. ("]"):rep(1001))
    end, "invalid JSON at byte 1001: nested deeper than 1000 levels")
  end)

  it("decodes a page of the sales API with its null, and large documents", function()
    local page = '{"sales":[{"id":17,"date":"2026-03-01T10:00:00Z","amount_usd":"12.50","region":" emea ",'
      .. '"note":null}],"next":null}'
    local doc = json.decode(page)
    assert.are.equal(cjson.null, doc.next)
    assert.are.equal(cjson.null, doc.sales[1].note)
    assert.are.equal(17, doc.sales[1].id)
    assert.are.equal("integer", math.type(doc.sales[1].id))
    local items = {}
    for i = 1, 20000 do
      items[i] = ('{"id":"S%08d","amount_usd":%d.%02d,"tag":"x\\u00e9%d"}'):format(i, i, i % 100, i)
    end
    agree('{"sales":[' .. table.concat(items, ",") .. "]}")
  end)

  it("does not keep state between calls: a failure, then a document, then another", function()
    agree('{"a":[1,2,{"b":"c"}]}')
    agree('{"a":[1,2,{"b":"c"')
    agree('{"x":"\\u00e9\\n"}')
    assert.are.equal("é\n", json.decode('{"x":"\\u00e9\\n"}').x)
  end)

  describe("with fields (decode options)", function()
    -- The reference: the reference decoder's value with, in the array at path, every object element
    -- reduced to the listed members (the tape builder skips the others instead of building them).
    local function reference(text, path, fields)
      local doc = assert(ref.decode(text))
      local arr = doc
      for name in (path or ""):gmatch("[^.]+") do
        arr = type(arr) == "table" and arr[name] or nil
      end
      local keep = {}
      for _, f in ipairs(fields) do
        keep[f] = true
      end
      if type(arr) == "table" then
        for _, rec in ipairs(arr) do
          if type(rec) == "table" and #rec == 0 then
            for k in pairs(rec) do
              if not keep[k] then
                rec[k] = nil
              end
            end
          end
        end
      end
      return doc
    end
    -- The records array at path, or an empty list when there is none.
    local function records_of(doc, path)
      for name in (path or ""):gmatch("[^.]+") do
        doc = type(doc) == "table" and doc[name] or nil
      end
      return type(doc) == "table" and doc or {}
    end
    local function check(text, path, fields)
      local got = json.decode(text, { records = path, fields = fields })
      local want = reference(text, path, fields)
      for _, rec in ipairs(records_of(got, path)) do
        if type(rec) == "table" and #rec == 0 then
          assert.is_table(getmetatable(rec), "a projected record has the records' metatable")
          setmetatable(rec, nil)
        end
      end
      local ok, why = same(got, want)
      assert(ok, ("different values for %q: %s"):format(text:sub(1, 200), tostring(why)))
    end

    it("keeps only the listed members of each record, elsewhere the whole document", function()
      local fields = { "id", "amount_usd", "note" }
      for i = 1, 500 do
        local recs = {}
        for r = 1, rand(5) - 1 do
          local members = {}
          for m = 1, rand(7) - 1 do
            local name = pick({ '"id"', '"amount_usd"', '"region"', '"note"', '"x"', '"id\\u0000"', '""' })
            members[m] = name .. ":" .. gen_value(2)
          end
          recs[r] = rand(8) == 1 and gen_value(2) or "{" .. table.concat(members, ",") .. "}"
        end
        local arr = "[" .. table.concat(recs, ",") .. "]"
        check(arr, nil, fields)
        check('{"meta":' .. gen_value(1) .. ',"data":{"items":' .. arr .. ',"n":' .. i .. "}}", "data.items", fields)
        check('{"sales":' .. gen_value(1) .. "}", "sales", fields) -- whatever the value is
      end
    end)

    it("gives the same records for a text past the 4 M tokens of a tape made ahead", function()
      -- 7 tokens a record: 600,000 records are over 4 M tokens (a page the fetch worker leaves to json.decode)
      local recs = {}
      for i = 1, 600000 do
        recs[i] = i % 1000 == 0 and '{"region":"y","b":[1,{"id":2}]}' or ('{"id":%d,"a":"x","region":"r"}'):format(i)
      end
      local text = '{"sales":[' .. table.concat(recs, ",") .. '],"next":{"id":7,"a":1}}'
      local doc = json.decode(text, { records = "sales", fields = { "id", "region" } })
      assert.are.equal(600000, #doc.sales)
      assert.are.same({ id = 7, a = 1 }, doc.next)
      for i = 1, #doc.sales, 997 do
        local rec = doc.sales[i]
        assert.is_nil(rawget(rec, "a"))
        assert.is_nil(rawget(rec, "b"))
        assert.are.equal(i % 1000 == 0 and "y" or "r", rec.region)
        assert.are.equal(i % 1000 ~= 0 and i or nil, rec.id) -- listed, absent: nil
      end
      assert.has_error(function()
        return doc.sales[1].a
      end, "record field 'a' is not decoded: the source's fields (id, region) do not list it")
      local small = '{"sales":[' .. table.concat(recs, ",", 998, 1001) .. "]}"
      check(small, "sales", { "id", "region" }) -- the tape
      local tape_doc = json.decode(small, { records = "sales", fields = { "id", "region" } })
      for i = 1, 4 do
        setmetatable(tape_doc.sales[i], nil)
        setmetatable(doc.sales[997 + i], nil)
        assert(same(tape_doc.sales[i], doc.sales[997 + i]))
      end
    end)

    it("raises when a script reads a member the list does not name", function()
      local doc = json.decode('{"sales":[{"id":"S1","channel":"web"}]}', { records = "sales", fields = { "id" } })
      local rec = doc.sales[1]
      assert.are.equal("S1", rec.id)
      assert.is_nil(rawget(rec, "channel"))
      local ok, err = pcall(function()
        return rec.channel
      end)
      assert.is_false(ok)
      assert.matches(
        "json_spec.lua:%d+: record field 'channel' is not decoded: the source's fields %(id%) do not list it", err)
      local n = 0
      for k in pairs(rec) do
        n = n + 1
        assert.are.equal("id", k)
      end
      assert.are.equal(1, n)
      assert.are.same({ id = "S1" }, cjson.decode(cjson.encode(rec)))
    end)

    it("rejects misuse of the options", function()
      local function err_of(opts)
        local ok, err = pcall(json.decode, "[]", opts)
        assert.is_false(ok)
        return err
      end
      assert.are.same({ a = { { x = 1, y = 2 } } }, json.decode('{"a":[{"x":1,"y":2}]}', { records = "a" }))
      local function misuse(what)
        return "bad argument #2 to 'salesengine.json.decode' (" .. what .. ")"
      end
      assert.are.equal(misuse("option 'fields': a non-empty list of member names expected"), err_of({ fields = {} }))
      assert.are.equal(misuse("option 'fields': item 2: string expected, got number"), err_of({ fields = { "a", 2 } }))
      local not_a_path = misuse("option 'records': a dotted path like \"data.items\" expected")
      assert.are.equal(not_a_path, err_of({ records = "a..b", fields = { "a" } }))
      assert.are.equal(not_a_path, err_of({ records = ".a", fields = { "a" } }))
      assert.are.equal(not_a_path, err_of({ records = 3, fields = { "a" } }))
      assert.are.equal(misuse("unknown option 'items'"), err_of({ items = "a", fields = { "a" } }))
      assert.has_error(function()
        json.decode("[]", 5)
      end)
    end)
  end)

  it("raises for a value that is not a string", function()
    assert.has_error(function()
      json.decode({})
    end, "bad argument #1 to 'decode' (string expected, got table)")
  end)
end)
