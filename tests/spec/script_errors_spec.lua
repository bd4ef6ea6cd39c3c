-- Issue 15, point 2: a bug in the transform is a script error — exit 1,
-- "transform.lua:LINE: message", a traceback, nothing loaded, no reject
-- written for it — while bad data stays a reject. Both sides of the rule of
-- salesengine.script_bug are here: errors that no record can cause end the
-- run at once; the others (indexing nil, arithmetic on nil, ...) do when the
-- first records all fail alike, and are rejects once a record has passed.
local testing = require "salesengine.testing"
local script_bug = require "salesengine.script_bug"

local dir

-- Writes a pipeline folder: pipeline.lua over `records` (a Lua expression),
-- transform.lua with the body given; returns the pipeline's path.
local function folder(transform_body, records, extra)
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d))
  dir = d
  local f = assert(io.open(d .. "/transform.lua", "w"))
  f:write('local tx = require "salesengine.transform"\nlocal M = {}\n\nfunction M.transform(rec)\n',
    transform_body, "\nend\n\nreturn M\n")
  f:close()
  f = assert(io.open(d .. "/pipeline.lua", "w"))
  f:write('local etl = require "salesengine.etl"\nlocal transform = require "transform"\n',
    "etl.run { name = 'orders', source = etl.records(", records, "), transform = transform.transform,\n",
    "  sink = { table = 'orders', key = { 'id' } }, db = 'fake', max_rejects = 1000,", extra or "", " }\n")
  f:close()
  return d .. "/pipeline.lua"
end

-- n records {id = "O<i>", customer = {id = "C<i>"}, amount = "<i>.50"}; without customer where
-- lacking(i) is true.
local function records(n, lacking)
  return string.format([[(function()
    local list = {}
    for i = 1, %d do
      list[i] = { id = "O" .. i, amount = i .. ".50", customer = { id = "C" .. i } }
      if (%s)(i) then list[i].customer = nil end
    end
    return list
  end)()]], n, lacking or "function() return false end")
end

local function run(path)
  local db = testing.fake_pg()
  local r = testing.run_script(path, { pg = db })
  return r, db
end

after_each(function()
  if dir then
    os.execute("rm -rf " .. dir)
    dir = nil
  end
end)

-- How many reject rows the fake database holds.
local function rejects(db)
  return #db:rows("etl_rejects")
end

describe("a bug in the transform", function()
  it("an undefined global (strict globals cover transform.lua too): exit 1 at the first record", function()
    local r, db = run(folder("  return { id = rec.id, customer = undefined_helper_x(rec) }", records(20)))
    assert.are.equal(1, r.code, r.error)
    assert.are.equal("script", r.kind)
    local first = r.error:match("^[^\n]*")
    assert.are.equal(dir .. "/transform.lua:5: undefined global 'undefined_helper_x'", first)
    assert.matches("\n%(in the transform: record 1 %(id O1%) hit it; a bug in the script, not bad data: " ..
      "nothing was loaded%)\nstack traceback:\n", r.error)
    assert.matches("transform.lua:5: in function", r.error)
    assert.is_nil(r.error:find("xpcall", 1, true), "the traceback stops at the transform's caller")
    assert.are.same({ 0, 0 }, { #db:rows("orders"), rejects(db) })
  end)

  it("a mistyped local in transform.lua is an undefined global, not 'missing required value'", function()
    local body = '  local currency = "EUR"\n  return { id = rec.id, currency = tx.text(currrency, "currency") }'
    local r = run(folder(body, records(3)))
    assert.are.equal(1, r.code, r.error)
    assert.are.equal(dir .. "/transform.lua:6: undefined global 'currrency'", r.error:match("^[^\n]*"))
  end)

  it("calling nil (a misspelt helper) ends the run at once, even after records that passed", function()
    local r, db = run(folder([[
  if rec.id == "O6" then return { id = rec.id, amount = tx.decmal(rec.amount, 2) } end
  return { id = rec.id }]], records(20)))
    assert.are.equal(1, r.code, r.error)
    assert.are.equal(dir .. "/transform.lua:5: attempt to call a nil value (field 'decmal')",
      r.error:match("^[^\n]*"))
    assert.matches("record 6 %(id O6%) hit it", r.error)
    assert.are.same({ 0, 0 }, { #db:rows("orders"), rejects(db) })
  end)

  it("indexing nil on each of the first records is a bug", function()
    local r, db = run(folder("  return { id = rec.id, customer = rec.custmer.id }", records(50)))
    assert.are.equal(1, r.code, r.error)
    assert.are.equal(dir .. "/transform.lua:5: attempt to index a nil value (field 'custmer')",
      r.error:match("^[^\n]*"))
    assert.matches("%(in the transform: the first " .. script_bug.SUSPECTS .. " records all failed here the " ..
      "same way; a bug in the script", r.error)
    assert.are.same({ 0, 0 }, { #db:rows("orders"), rejects(db) })
  end)

  it("so it is when every record of a shorter run fails alike", function()
    local r = run(folder("  return { id = rec.id, total = rec.qty * 2 }", records(3)))
    assert.are.equal(1, r.code, r.error)
    assert.matches("transform.lua:5: attempt to perform arithmetic on a nil value %(field 'qty'%)\n" ..
      "%(in the transform: all 3 records of the run failed here the same way;", r.error)
  end)

  it("a library function's bad argument gets the transform's line", function()
    local r = run(folder("  return { id = rec.id, region = string.upper(rec.region) }", records(12)))
    assert.are.equal(1, r.code, r.error)
    assert.are.equal(dir .. "/transform.lua:5: bad argument #1 to 'upper' (string expected, got nil)",
      r.error:match("^[^\n]*"))
  end)
end)

describe("bad data", function()
  it("a record without a member the transform indexes is a reject once another record passed", function()
    local r, db = run(folder("  return { id = rec.id, customer = rec.customer.id }",
      records(30, "function(i) return i == 1 or i == 2 or i == 17 end")))
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 27, 3 }, { #db:rows("orders"), rejects(db) })
    assert.matches("transform.lua:5: attempt to index a nil value %(field 'customer'%)",
      db:rows("etl_rejects")[1].reason)
  end)

  it("a JSON null read as a table says so in the reject's reason", function()
    local r, db = run(folder("  return { id = rec.id, customer = rec.customer.id }",
      (records(12, "function(i) return i == 5 end"):gsub("list%[i%]%.customer = nil", "list[i].customer = " ..
        "require('cjson').null"))))
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(1, rejects(db))
    assert.are.equal(dir .. "/transform.lua:5: attempt to index a JSON null (key 'id'): the data has null where a " ..
      "table was expected; tx.get(rec, \"a.b\") reads a nested member that may be null",
      db:rows("etl_rejects")[1].reason)
  end)

  it("so are the helpers' verdicts, tx.fail and the script's own error(), on every record", function()
    for _, body in ipairs({
      '  return { id = rec.id, amount = tx.decimal("x" .. rec.amount, 2, "amount") }',
      '  tx.fail("amount", rec.amount, "must not be negative")',
      '  error("no such channel")',
      '  error({ field = "channel", message = "unknown" })',
    }) do
      local r, db = run(folder(body, records(15)))
      assert.are.equal(0, r.code, r.error)
      assert.are.same({ 0, 15 }, { #db:rows("orders"), rejects(db) }, body)
    end
  end)

  it("a data error among the first records stops the rule: a runtime error after it is a reject", function()
    local r, db = run(folder([[
  if rec.id == "O1" then tx.fail("id", rec.id, "is a test order") end
  return { id = rec.id, customer = rec.customer.id }]], records(40, "function(i) return i > 1 and i < 30 end")))
    assert.are.equal(0, r.code, r.error)
    assert.are.same({ 11, 29 }, { #db:rows("orders"), rejects(db) })
  end)
end)
