-- Issue 15, point 7: exact arithmetic for money in a transform —
-- tx.decimal_add, tx.decimal_sub, tx.decimal_mul give decimal strings, never
-- a float, rounded half away from zero when a scale is given. Checked on
-- examples and against a digit-by-digit reference on generated operands
-- (short ones take the integer path, long ones the limb path).
local tx = require "salesengine.transform"

-- Reference: decimal strings "[-]digits[.digits]" as (negative, digit array of the magnitude
-- scaled by 10^frac, frac); schoolbook, one digit at a time.
local function parse(s)
  local neg, int, frac = s:match("^(%-?)(%d+)%.?(%d*)$")
  return neg == "-", int .. frac, #frac
end

local function add_digits(a, b)
  local out, carry, i, j = {}, 0, #a, #b
  while i >= 1 or j >= 1 or carry > 0 do
    local v = (i >= 1 and a:byte(i) - 48 or 0) + (j >= 1 and b:byte(j) - 48 or 0) + carry
    table.insert(out, 1, v % 10)
    carry, i, j = v // 10, i - 1, j - 1
  end
  return (table.concat(out):gsub("^0+(%d)", "%1"))
end

local function mul_digits(a, b)
  local r = {}
  for k = 1, #a + #b do r[k] = 0 end
  for i = #a, 1, -1 do
    for j = #b, 1, -1 do
      local k = i + j
      local v = r[k] + (a:byte(i) - 48) * (b:byte(j) - 48)
      r[k], r[k - 1] = v % 10, r[k - 1] + v // 10
    end
  end
  return (table.concat(r):gsub("^0+(%d)", "%1"))
end

-- The exact product of decimal strings x and y (non-negative), as the reference gives it.
local function reference_mul(x, y)
  local _, dx, fx = parse(x)
  local _, dy, fy = parse(y)
  local p = mul_digits(dx, dy)
  local f = fx + fy
  if f == 0 then
    return p
  end
  p = string.rep("0", f + 1 - #p) .. p
  return p:sub(1, #p - f) .. "." .. p:sub(#p - f + 1)
end

local function reference_add(x, y)
  local _, dx, fx = parse(x)
  local _, dy, fy = parse(y)
  local f = math.max(fx, fy)
  local s = add_digits(dx .. string.rep("0", f - fx), dy .. string.rep("0", f - fy))
  if f == 0 then
    return s
  end
  s = string.rep("0", f + 1 - #s) .. s
  return s:sub(1, #s - f) .. "." .. s:sub(#s - f + 1)
end

local function random_decimal(rng_digits)
  local int = tostring(math.random(0, 9))
  for _ = 2, rng_digits do int = int .. math.random(0, 9) end
  int = int:gsub("^0+(%d)", "%1")
  local frac = ""
  for _ = 1, math.random(0, 4) do frac = frac .. math.random(0, 9) end
  return frac == "" and int or int .. "." .. frac
end

describe("exact decimal arithmetic", function()
  it("computes a line total and a sum as the analyst writes them", function()
    assert.are.equal("59.97", tx.decimal_mul("19.99", 3))
    assert.are.equal("59.97", tx.decimal_mul(19.99, 3, 2)) -- a JSON number: its shortest decimal
    assert.are.equal("0.30", tx.decimal_add(0.1, 0.2, 2)) -- never 0.30000000000000004
    assert.are.equal("20.00", tx.decimal_add("19.99", "0.01"))
    assert.are.equal("-1.50", tx.decimal_sub("1.00", "2.5"))
    assert.are.equal("0.075", tx.decimal_mul("0.15", "0.5"))
    assert.are.equal("0.08", tx.decimal_mul("0.15", "0.5", 2)) -- half away from zero
    assert.are.equal("-0.08", tx.decimal_mul("-0.15", "0.5", 2))
    assert.are.equal("0.000", tx.decimal_sub("0.005", "0.005"))
    assert.are.equal("0.00", tx.decimal_sub("0.001", "0.003", 2)) -- never a negative zero
    assert.are.equal("12", tx.decimal_mul(" 4 ", "3"))
    assert.are.equal("1000.00", tx.decimal_mul("1e3", "1.00"))
    assert.are.equal("12193263113702179522558299036755488492415065996030.26",
      tx.decimal_mul("123456789012345678901234567890.12", "98765432109876543210.5", 2))
    assert.are.equal("100000000000000000", tx.decimal_add("99999999999999999", "1"))
    assert.are.equal("99999999999999999999", tx.decimal_sub("100000000000000000000", "1"))
  end)

  it("agrees with a digit-by-digit reference on generated operands, short and long", function()
    math.randomseed(15)
    for n = 1, 400 do
      local x, y = random_decimal(n % 40 + 1), random_decimal((n * 7) % 33 + 1)
      assert.are.equal(reference_mul(x, y), tx.decimal_mul(x, y), x .. " * " .. y)
      assert.are.equal(reference_add(x, y), tx.decimal_add(x, y), x .. " + " .. y)
      assert.are.equal(x, tx.decimal_sub(tx.decimal_add(x, y), y, #(x:match("%.(%d*)$") or "")), "(x + y) - y")
    end
  end)

  it("rejects bad operands as data errors naming the field, and bad arguments as programmer errors", function()
    local ok, err = pcall(tx.decimal_mul, "12,5", 2, 2, "line_total")
    assert.is_false(ok)
    assert.is_true(tx.is_error(err))
    assert.are.equal("field 'line_total': invalid decimal \"12,5\" (unexpected character \",\" at position 3)",
      tostring(err))
    ok, err = pcall(tx.decimal_add, nil, 1)
    assert.is_false(ok)
    assert.is_true(tx.is_error(err))
    assert.are.equal("missing required value (got nil)", err.message)
    assert.has_error(function() tx.decimal_add(1, 2, "2") end,
      "bad argument #3 to 'decimal_add' (scale must be nil or an integer from 0 to 1000)")
    assert.has_error(function() tx.decimal_sub(1, 2, 2, 7) end,
      "bad argument #4 to 'decimal_sub' (field name must be a string, got number)")
  end)
end)
