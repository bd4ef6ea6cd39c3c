-- salesengine.transform with its C fast paths (salesengine.transform_fast, used inside the
-- engine) gives exactly what its pure Lua code gives, results and errors, on many generated
-- values. Under stock Lua (no C module) there is nothing to compare.
--   build/salesengine /usr/bin/busted tests/spec/transform_fast_spec.lua
package.path = "bindings/lua/?.lua;" .. package.path

local has_fast = pcall(require, "salesengine.transform_fast")

-- A copy of the module loaded with SALESENGINE_HELPERS = helpers (nil: unset); hide_c: without
-- the C module either (as under stock Lua).
local function module_with(helpers, hide_c)
  local os_copy = setmetatable({
    getenv = function(name)
      if name == "SALESENGINE_HELPERS" then
        return helpers
      end
      return os.getenv(name)
    end,
  }, { __index = os })
  local env = setmetatable({
    os = os_copy,
    require = function(name)
      if hide_c and name == "salesengine.transform_fast" then
        error("hidden from this copy")
      end
      return require(name)
    end,
  }, { __index = _G })
  return assert(loadfile("bindings/lua/salesengine/transform.lua", "t", env))()
end

describe("salesengine.transform fast paths", function()
  if not has_fast then
    pending("salesengine.transform_fast is only inside the engine")
    return
  end
  local fast = require "salesengine.transform"
  local pure = module_with("plain", true) -- the general code only: the plain path
  local quick = module_with("lua", true)  -- the quick paths in Lua

  -- Asserts that f(...) does the same (result or error text) in the C and the Lua quick paths
  -- as in the plain path.
  local function same(f, ...)
    local ok0, r0 = pcall(pure[f], ...)
    local shown = table.concat({ f, tostring((...)), tostring(select(2, ...)) }, " ")
    for name, m in pairs({ c = fast, lua = quick }) do
      local ok, r = pcall(m[f], ...)
      assert.are.equal(ok0, ok, name .. ": " .. shown)
      assert.are.equal(tostring(r0), tostring(r), name .. ": " .. shown)
    end
  end

  it("each setting of SALESENGINE_HELPERS is really in use", function()
    assert.are.equal("C", debug.getinfo(fast.decimal, "S").what)
    assert.are.equal("C", debug.getinfo(module_with(nil).decimal, "S").what) -- the default is "c"
    for _, helpers in ipairs({ "lua", "plain" }) do
      local m = module_with(helpers)
      assert.are.equal("Lua", debug.getinfo(m.decimal, "S").what, helpers)
      assert.are.equal("STRASSE", m.upper("straße", "f"), helpers) -- upper knows Unicode in every setting
    end
    assert.are.equal("2026-03-01T10:00:00+00:00", fast.iso_datetime("2026-03-01T10:00:00Z", "d"))
  end)

  it("refuses a setting it does not know", function()
    local ok, err = pcall(module_with, "fast")
    assert.is_false(ok)
    assert.are.equal("SALESENGINE_HELPERS must be c, lua or plain, not 'fast'", err)
  end)

  it("iso_datetime agrees on generated date-times", function()
    math.randomseed(20261127)
    local tails = { "", "Z", "z", "+05:30", "-04:00", "+00:00", "-00:00", "+15:59", "+16:00", ".5", ".250-04:00",
      ".000000Z", ".1234567", ".9999995Z", ".", "Zx", " ", "+0530", ",5Z" }
    for _ = 1, 20000 do
      local t = string.format("%04d-%02d-%02d%s%02d:%02d:%02d", math.random(0, 9999), math.random(0, 13),
        math.random(0, 32), ({ "T", "t", " ", "x" })[math.random(4)], math.random(0, 25), math.random(0, 60),
        math.random(0, 60))
      same("iso_datetime", t .. tails[math.random(#tails)], "date")
    end
    for _, s in ipairs({ "2024-02-29T10:00:00Z", "2023-02-29T10:00:00Z", "2100-02-29T10:00:00Z", " 2026-03-01",
      "2026-03-01", "2026-03-01T24:00:00Z", 42 }) do
      same("iso_datetime", s, "date")
    end
  end)

  it("decimal agrees on generated numbers and numeric strings", function()
    math.randomseed(42)
    local parts = { "0", "00", "1", "9", "12", "007", "-", "+", " ", ".", "5", "99999999", "e5", "-0", "0.0", "," }
    for _ = 1, 20000 do
      local scale = math.random(0, 4)
      local s = {}
      for k = 1, math.random(1, 5) do
        s[k] = parts[math.random(#parts)]
      end
      same("decimal", table.concat(s), scale, "amount")
      local c = math.random(-10 ^ 9, 10 ^ 9)
      same("decimal", c / 10 ^ math.random(0, 8), scale, "amount")
      same("decimal", (c + 0.5) / 100, 2, "amount")
      same("decimal", (math.random() - 0.5) * 10 ^ math.random(-8, 16), scale, "amount")
      same("decimal", c, scale, "amount")
    end
    for _, v in ipairs({ 1.005, 0.125, 2.675, 1e15, 9e13, -0.0, 0.0, 1 / 3, 0.1 + 0.2, 5e-324, 2 ^ 52 + 0.5,
      math.huge, 0 / 0, math.maxinteger, math.mininteger, "1e400", {} }) do
      for scale = 0, 17 do
        same("decimal", v, scale, "amount")
      end
    end
  end)

  it("raises the helpers' programmer errors at the caller's line, as the Lua helpers do", function()
    local cases = { { "trim", "x", 5 }, { "upper", "x", {} }, { "text", "x", true }, { "text", 7, 1 },
      { "iso_datetime", "2024-01-01", 1 }, { "decimal", 1, 2, 3 }, { "decimal", 1, -1 }, { "decimal", 1, 2.5 },
      { "decimal", "1", 1001 }, { "decimal", 1, "2" } }
    for _, case in ipairs(cases) do
      local function call(module)
        return pcall(function()
          local r = module[case[1]](table.unpack(case, 2, 4)) -- the line both messages name
          return r
        end)
      end
      local ok1, err1 = call(fast)
      local ok2, err2 = call(pure)
      local ok3, err3 = call(quick)
      assert.is_false(ok1)
      assert.is_false(ok2)
      assert.is_false(ok3)
      assert.are.equal(err2, err1)
      assert.are.equal(err2, err3)
      assert.matches("transform_fast_spec.lua:%d+: bad argument #%d to '" .. case[1] .. "'", err1)
    end
  end)

  -- On non-ASCII text they differ by design: the C paths follow Unicode, the pure Lua code (stock
  -- Lua) knows ASCII only; tests/spec/unicode_text_spec.lua checks the Unicode results.
  it("trim and upper agree on ASCII, also for values met again after their memo was emptied", function()
    local values = { "", " ", " a ", "\t x\n", "abc", "a b", "\v\fz\r", "ABC", " emea ", "xa\0b", "Apac ",
      ("x"):rep(300) .. " ", 12 }
    for round = 1, 3 do
      for _, s in ipairs(values) do
        same("trim", s, "f")
        same("upper", s, "f")
      end
      same("trim", "éa\0b", "f") -- no white space at either end: the same
      for i = 1, 300 * round do -- more distinct values than a memo keeps
        same("trim", " v" .. i .. " ", "f")
        same("upper", "v" .. i, "f")
      end
    end
    for b = 0, 255 do
      same("upper", "<" .. string.char(b) .. ">", "f")
    end
  end)
end)
