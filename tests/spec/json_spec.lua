-- salesengine.json.decode gives exactly what cjson.decode gives: the same values (every number
-- the same float, every string the same bytes, null as cjson.null, the same tables) for many
-- generated documents, and the same error message for invalid ones.
--   build/salesengine /usr/bin/busted tests/spec/json_spec.lua
local has_json = pcall(require, "salesengine.json")

describe("salesengine.json", function()
  if not has_json then
    pending("salesengine.json is only inside the engine")
    return
  end
  local json = require "salesengine.json"
  local cjson = require "cjson"

  -- Whether a and b are the same JSON value as Lua sees it: same types (math.type included),
  -- numbers equal bit for bit (NaN aside, -0.0 apart from 0.0), tables with the same keys.
  local function same(a, b, path)
    path = path or "$"
    if type(a) ~= type(b) then
      return false, path .. ": " .. type(a) .. " vs " .. type(b)
    end
    if type(a) == "number" then
      if math.type(a) ~= math.type(b) or string.pack("d", a) ~= string.pack("d", b) then
        return false, path .. ": " .. string.format("%.17g vs %.17g", a, b)
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

  -- Asserts that both decoders agree on text: values or error messages.
  local function agree(text)
    local ok1, v1 = pcall(json.decode, text)
    local ok2, v2 = pcall(cjson.decode, text)
    local shown = ("%q"):format(text:sub(1, 200))
    assert.are.equal(ok2, ok1, "succeeded once only: " .. shown .. " " .. tostring(ok1 and v2 or v1))
    if ok1 then
      local ok, why = same(v1, v2)
      assert(ok, "different values for " .. shown .. ": " .. tostring(why))
    else
      assert.are.equal(v2, v1, shown)
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
  local number_forms = { "0", "-0", "1", "-1", "17", "1047.3", "1047.61", "0.1", "0.30000000000000004",
    "1e3", "1E-3", "-2.5e+10", "9007199254740993", "12345678901234567890", "1e22", "1e23", "4.9e-324",
    "1.7976931348623157e308", "1e400", "-1e400", "123456789012.345678", "0.000001", "3.14159265358979",
    "2.2250738585072014e-308", "100000000000000000000000000000" }
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
      local s = (rand(2) == 1 and "-" or "") .. (digits[1] == "0" and "1" or "") .. table.concat(digits)
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

  it("decodes 3,000 generated documents exactly as cjson does", function()
    for _ = 1, 3000 do
      agree(pick({ "", " ", "\n\t" }) .. gen_value(0) .. pick({ "", " ", "\r\n" }))
    end
  end)

  it("gives cjson's error for every broken form of generated documents", function()
    for _ = 1, 600 do
      local text = gen_value(0)
      local cut = rand(#text + 1) - 1
      agree(text:sub(1, cut)) -- truncated
      agree(text:sub(1, cut) .. pick({ "}", "]", ",", ":", "x", "\0", "\1", "\255", "'" }) .. text:sub(cut + 1))
    end
  end)

  it("agrees on the forms the two parsers might read differently", function()
    for _, text in ipairs({ '"\\ud800"', '"\\udc00"', '"\\ud83d"', '"\\ud83dx"', '["\\ud83d\\u0041"]',
      "\f[1]", "[1]\v", "[1,\f2]", '"a\1b"', '"\255\254"', '"\237\160\128"', "0x10", "[inf]", "[nan]",
      "[-Infinity]", "[01]", "[1.]", "[.5]", "[+1]", "[1e]", "/*c*/[1]", "[1]//c", "[1] [2]", "[1]x",
      "\239\187\191[1]", "{\"a\":1,\"a\":2}", "{}", "[]", "[[]]", "[{}]", '""', "null", "true",
      "  17  ", "-0", "{\"\":0}", "[\"\\u0000\"]", '"\\u00"', '"\\x41"', '"\\', "[", "{", "{\"a\"}",
      "{1:2}", "{\"a\":}", "[1,]", "{\"a\":1,}", "nul", "tru", "fals", "",
      '1"', '1"abc', '[1]"x', '{}"', 'true "', '":2-"":null}', '"a"""', "[1] \r\n" }) do
      agree(text)
    end
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
    end)
  end)

  it("decodes a page of the sales API with its null, and large documents", function()
    local page = '{"sales":[{"id":17,"date":"2026-03-01T10:00:00Z","amount_usd":"12.50","region":" emea ",'
      .. '"note":null}],"next":null}'
    local doc = json.decode(page)
    assert.are.equal(cjson.null, doc.next)
    assert.are.equal(cjson.null, doc.sales[1].note)
    assert.are.equal(17.0, doc.sales[1].id)
    assert.are.equal("float", math.type(doc.sales[1].id))
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
    -- The reference: cjson's value with, in the array at path, every object element reduced
    -- to the listed members (the tape builder skips the others instead of building them).
    local function reference(text, path, fields)
      local doc = cjson.decode(text)
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

    it("gives the same records for a text too large for the tape (cjson decodes it)", function()
      -- 7 tokens a record: 600,000 records are over the tape's 4 M tokens
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
      assert.matches("'fields' must be a non%-empty list", err_of({ fields = {} }))
      assert.matches("'fields' must list strings %(item 2 is a number%)", err_of({ fields = { "a", 2 } }))
      assert.matches("'records' must be a dotted path", err_of({ records = "a..b", fields = { "a" } }))
      assert.matches("'records' must be a dotted path", err_of({ records = ".a", fields = { "a" } }))
      assert.matches("'records' must be a dotted path", err_of({ records = 3, fields = { "a" } }))
      assert.matches("unknown decode option items", err_of({ items = "a", fields = { "a" } }))
      assert.has_error(function()
        json.decode("[]", 5)
      end)
    end)
  end)

  it("raises for a value that is not a string, as cjson does", function()
    assert.has_error(function()
      json.decode({})
    end)
    assert.has_error(function()
      cjson.decode({})
    end)
  end)
end)
