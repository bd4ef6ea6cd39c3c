-- http.records: records built as the transform reads them give what a full
-- decode gives. A differential spec over generated documents: the same
-- transforms run over the records with the learned projection (the default)
-- and with project = false, and the results, rejects and raw records are
-- compared with each other and with json.decode of the whole document.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local http = require "salesengine.http"
local json = require "salesengine.json"
local cjson = require "cjson"

-- A deterministic rendering of any value (keys sorted), for comparisons.
local function render(v)
  if type(v) ~= "table" then
    return v == cjson.null and "null" or type(v) .. ":" .. tostring(v)
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. render(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local NAMES = { "id", "date", "amount", "region", "channel", "customer", "sku", "qty", "tags", "note" }

-- n records with random members (some without id, some with nested values and nulls).
local function document(n, seed)
  math.randomseed(seed)
  local recs = {}
  for i = 1, n do
    local r = {}
    for _, name in ipairs(NAMES) do
      local roll = math.random(10)
      if roll <= 6 then
        r[name] = (roll % 3 == 0) and i * 1.5 or name .. i
      elseif roll == 7 then
        r[name] = cjson.null
      elseif roll == 8 then
        r[name] = { a = i, b = { "x", i } }
      end
    end
    if math.random(8) == 1 then r = { i, "array record" } end
    recs[i] = r
  end
  return cjson.encode({ sales = recs, next = cjson.null })
end

-- Transforms that read differently: a few fields; fields chosen per record;
-- new fields from halfway on; pairs over some records; json.member.
local TRANSFORMS = {
  few = function(r, i)
    if type(r) ~= "table" then return { i } end
    return { r.id, r.amount, r.region }
  end,
  varying = function(r, i)
    if type(r) ~= "table" then return { i } end
    local name = NAMES[1 + i % #NAMES]
    return { name, r[name], r.id }
  end,
  late = function(r, i)
    if type(r) ~= "table" then return { i } end
    if i < 150 then return { r.id } end
    return { r.id, r.customer, r.tags, r.missing_member }
  end,
  walks = function(r, i)
    if type(r) ~= "table" then return { i } end
    if i % 7 == 0 then
      local all = {}
      for k, v in pairs(r) do all[k] = v end
      return all
    end
    return { r.sku, json.member(r, "qty") }
  end,
}

describe("http.records", function()
  local api, root

  setup(function()
    root = testenv.tmpdir()
    api = api_fixture.start({ root = root })
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(root)
  end)

  -- The transform's results over every record of the document, and each record made full (json.full).
  local function run(url, transform, opts)
    local out, raws = {}, {}
    local src = http.records(url, opts)
    local i = 0
    while true do
      local batch, err, code = src()
      assert(err == nil, tostring(err) .. " " .. tostring(code))
      if batch == nil then break end
      for _, rec in ipairs(batch) do
        i = i + 1
        out[i] = render(transform(rec, i))
        if i % 5 == 0 then raws[#raws + 1] = cjson.encode(json.full(rec)) end
      end
    end
    return out, raws
  end

  it("gives what a full decode gives, whatever the transform reads and when", function()
    for seed = 1, 6 do
      local text = document(300, seed)
      testenv.write_file(root .. "/doc.json", text)
      local whole = json.decode(text).sales
      for name, transform in pairs(TRANSFORMS) do
        local url = api.url .. "/doc.json"
        local projected, raw_p = run(url, transform, { records = "sales", batch = 64 })
        local full, raw_f = run(url, transform, { records = "sales", batch = 64, project = false })
        assert.are.equal(#whole, #projected)
        for i, rec in ipairs(whole) do
          local want = render(transform(rec, i))
          assert.are.equal(want, full[i], name .. " seed " .. seed .. " record " .. i .. " (full)")
          assert.are.equal(want, projected[i], name .. " seed " .. seed .. " record " .. i .. " (projected)")
        end
        -- a whole page decoded with a reader (paginate's way without fields), over two pages
        local reader = json.reader()
        for _ = 1, 2 do
          local doc = assert(http.get_json(url, { json = { records = "sales", reader = reader } }))
          for i, rec in ipairs(doc.sales) do
            assert.are.equal(render(transform(whole[i], i)), render(transform(rec, i)),
              name .. " seed " .. seed .. " record " .. i .. " (page)")
          end
        end
        for k = 1, #raw_p do
          assert.are.equal(render(json.decode(raw_f[k])), render(json.decode(raw_p[k])), name .. " raw " .. k)
          assert.are.equal(render(whole[k * 5]), render(json.decode(raw_p[k])), name .. " raw " .. k)
        end
      end
    end
  end)

  it("builds later records with the members read so far, and only those", function()
    testenv.write_file(root .. "/doc.json", '{"sales":[' .. string.rep('{"id":1,"region":"r","customer":"c"},', 19) ..
      '{"id":1,"region":"r","customer":"c"}]}')
    local src = http.records(api.url .. "/doc.json", { records = "sales", batch = 10 })
    for _, r in ipairs(src()) do
      assert.is_nil(rawget(r, "region")) -- nothing read yet: nothing built
      assert.are.equal("r", r.region)
    end
    for _, r in ipairs(src()) do
      assert.are.equal("r", rawget(r, "region")) -- learned from the first batch
      assert.is_nil(rawget(r, "customer"))       -- never read
    end
  end)

  it("checks an explicit list of fields, and refuses dotted names", function()
    testenv.write_file(root .. "/doc.json", '{"sales":[{"id":1,"a":2,"b":3}]}')
    local batch = http.records(api.url .. "/doc.json", { records = "sales", fields = { "id", "a" } })()
    assert.are.equal(2, batch[1].a)
    assert.has_error(function() return batch[1].b end,
      "record field 'b' is not decoded: the source's fields (id, a) do not list it")
    assert.are.equal(3, json.member(batch[1], "b"))
    assert.has_error(function() http.records(api.url .. "/doc.json", { fields = { "a.b" } }) end,
      "bad argument #2 to 'records' (option 'fields': 'a.b': dotted names are not supported (list the record's " ..
      "top-level member, or leave 'fields' out: the engine learns them))")
    assert.has_error(function() http.records(api.url .. "/doc.json", { records = "a..b" }) end,
      'bad argument #2 to \'records\' (option \'records\': a dotted path like "data.items" expected)')
    assert.has_error(function() http.records(api.url .. "/doc.json", { bogus = 1 }) end,
      "bad argument #2 to 'records' (unknown option 'bogus')")
  end)

  it("names a record by its place on the tape (json.locate), and builds it again there in full (json.rebuild)",
    function()
      testenv.write_file(root .. "/doc.json", '{"sales":[{"id":1,"tags":["a",{"b":null}],"n":2.5},' ..
        '{"id":2,"x":"y"}]}')
      local batch = http.records(api.url .. "/doc.json", { records = "sales" })()
      assert.are.equal(1, batch[1].id) -- only id is built
      assert.is_nil(rawget(batch[2], "x"))
      for i, want in ipairs({ { id = 1, tags = { "a", { b = cjson.null } }, n = 2.5 }, { id = 2, x = "y" } }) do
        local box, at = json.locate(batch[i])
        assert.are.equal("integer", math.type(at))
        local again = json.rebuild(box, at)
        assert.are.same(want, again)
        assert.is_nil(getmetatable(again)) -- a plain table: nothing of it is left to build
      end
      assert.is_nil(json.locate({ id = 1 }))
      assert.is_nil(json.locate("S1"))
      local box, at = json.locate(batch[1])
      assert.has_error(function() json.rebuild(box, at + 1) end,
        "bad argument #1 to 'rebuild' (not a place json.locate gave)")
      assert.has_error(function() json.rebuild({}, at) end,
        "bad argument #1 to 'rebuild' (not a place json.locate gave)")
    end)

  it("names the records of a list by their places at once (json.locate_all), as json.locate does one by one",
    function()
      testenv.write_file(root .. "/one.json", '{"sales":[{"id":1},{"id":2,"x":"y"}]}')
      testenv.write_file(root .. "/two.json", '{"sales":[{"id":3}]}')
      local a = http.records(api.url .. "/one.json", { records = "sales" })()
      local b = http.records(api.url .. "/two.json", { records = "sales" })()
      local plain = { id = 9 }
      local list = { a[1], plain, b[1], a[2], "S1", b[1], "beyond n" }
      local boxes, places = json.locate_all(list, 6)
      for i = 1, 6 do
        local box, at = json.locate(list[i])
        assert.are.equal(box or list[i], boxes[i], "boxes[" .. i .. "]")
        assert.are.equal(at, places[i], "places[" .. i .. "]")
      end
      assert.are_not.equal(boxes[1], boxes[3]) -- two batches, two boxes
      assert.are.same({ id = 2, x = "y" }, json.rebuild(boxes[4], places[4]))
      assert.is_nil(boxes[7])
      assert.are.same({ {}, {} }, { json.locate_all({}, 0) })
      assert.has_error(function() json.locate_all(list) end,
        "bad argument #2 to 'locate_all' (number expected, got no value)")
    end)
end)
