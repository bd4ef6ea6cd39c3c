--- salesengine.transform: helpers for per-record transforms.
-- Pure Lua 5.4 (no engine modules): works inside salesengine and under stock
-- lua5.4/busted. Bad data raises a structured error (see is_error) naming the
-- field and the offending value; wrong arguments (programmer mistakes) raise
-- plain string errors. Missing means nil or cjson.null. API: docs/lua-api.md.
local M = {}

local dotted = require "salesengine.path" -- the one dotted-path rule

local MAX_EXPONENT = 1000 -- largest |exponent| accepted in a numeric string
local MAX_RENDER = 60     -- longest rendering of a string value in a message

-- cjson.null, loaded on first use; false when cjson is not available.
local json_null

-- True when v is nil or cjson.null (JSON null).
local function is_missing(v)
  if v == nil then
    return true
  end
  if type(v) ~= "userdata" then
    return false
  end
  if json_null == nil then
    local ok, cjson = pcall(require, "cjson")
    json_null = ok and type(cjson) == "table" and cjson.null or false
  end
  return json_null ~= false and v == json_null
end

-- Shortest "%.Ng" rendering of a finite float that reads back as the same float.
local function shortest_float(x)
  for digits = 1, 17 do
    local s = string.format("%." .. digits .. "g", x)
    if tonumber(s) == x then
      return s
    end
  end
  return string.format("%.17g", x)
end

local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\" }

-- Escapes a byte that cannot appear raw inside a quoted rendering.
local function escape_byte(c)
  return ESCAPES[c] or string.format("\\x%02x", c:byte())
end

-- A short printable rendering of any value, for error messages.
local function render(v)
  if v == nil then
    return "nil"
  elseif is_missing(v) then
    return "null"
  end
  local t = type(v)
  if t == "string" then
    local s, cut = v, false
    if #s > MAX_RENDER then
      local stop = MAX_RENDER
      while stop > 1 and (s:byte(stop + 1) or 0) & 0xC0 == 0x80 do -- keep UTF-8 sequences whole
        stop = stop - 1
      end
      s, cut = s:sub(1, stop), true
    end
    return '"' .. s:gsub('[%c"\\]', escape_byte) .. (cut and '..."' or '"')
  elseif math.type(v) == "float" then
    if v ~= v then
      return "nan"
    elseif v == math.huge or v == -math.huge then
      return v > 0 and "inf" or "-inf"
    end
    return shortest_float(v)
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  end
  return "<" .. t .. ">"
end

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  local s = e.message
  if e.field ~= nil then
    s = "field '" .. tostring(e.field) .. "': " .. s
  end
  if e.context ~= nil then
    s = e.context .. ": " .. s
  end
  return s
end

-- Builds a structured error; message is the complete text after "field 'x': ".
local function new_error(field, value, message)
  return setmetatable({ field = field, value = render(value), message = message }, Error)
end

-- Raises "invalid WHAT VALUE (REASON)" for field.
local function invalid(field, value, what, reason)
  error(new_error(field, value, "invalid " .. what .. " " .. render(value) .. " (" .. reason .. ")"), 0)
end

-- Raises the "missing required value" error when v is missing; returns v otherwise.
local function present(v, field)
  if is_missing(v) then
    error(new_error(field, v, "missing required value (got " .. render(v) .. ")"), 0)
  end
  return v
end

-- "a string", "a table", ... for messages about wrong types.
local function a_type(v)
  return "a " .. type(v)
end

-- Raises a plain (programmer) error unless field is nil or a string. Hot paths test
-- `type(field) ~= "string"` themselves before calling it.
local function check_field(field, fname, argn)
  if field ~= nil and type(field) ~= "string" then
    error(string.format("bad argument #%d to '%s' (field name must be a string, got %s)", argn, fname,
      type(field)), 3)
  end
end

--- A short printable rendering of any value, as used in error messages:
-- strings quoted and escaped (cut at 60 bytes with "..."), numbers in shortest form, nil, null, <table>.
M.render = render

--- True when e is an error raised by this module (a table with field, value, message).
function M.is_error(e)
  return getmetatable(e) == Error
end

--- Raises a structured error for field with value: "MESSAGE (got VALUE)".
-- For checks that the helpers do not cover, e.g. fail("amount_usd", v, "must not be negative").
function M.fail(field, value, message)
  check_field(field, "fail", 1)
  if type(message) ~= "string" then
    error("bad argument #3 to 'fail' (message must be a string)", 2)
  end
  error(new_error(field, value, message .. " (got " .. render(value) .. ")"), 0)
end

--- Returns err with "CONTEXT: " in front of its text (e.g. "record 3 (id 17)").
-- A structured error stays structured (a copy with a context field); anything else becomes a string.
function M.annotate(err, context)
  if type(context) ~= "string" then
    error("bad argument #2 to 'annotate' (context must be a string)", 2)
  end
  if M.is_error(err) then
    local copy = setmetatable({}, Error)
    for k, v in pairs(err) do
      copy[k] = v
    end
    copy.context = err.context and context .. ": " .. err.context or context
    return copy
  end
  return context .. ": " .. tostring(err)
end

------------------------------------------------------------------------------------------------------------
-- Strings

-- Returns value if it is a string; raises "invalid text" otherwise.
local function need_string(value, field)
  present(value, field)
  if type(value) ~= "string" then
    invalid(field, value, "text", "expected a string, got " .. a_type(value))
  end
  return value
end

local byte = string.byte

-- True when byte b is one of the bytes %s matches (space, \t, \n, \v, \f, \r).
local function is_space(b)
  return b == 32 or (b ~= nil and b >= 9 and b <= 13)
end

-- s without its leading and trailing ASCII whitespace (s itself when it has none).
-- Inside salesengine the C version (the end of this file) trims Unicode White_Space.
local function trimmed(s)
  if is_space(byte(s, 1)) or is_space(byte(s, -1)) then
    return (s:match("^%s*(.-)%s*$"))
  end
  return s
end

--- Removes leading and trailing white space: every code point with Unicode's
-- White_Space property (NBSP, U+2000..U+200A, U+3000, ...; only ASCII white space
-- under stock Lua, without the C module).
function M.trim(value, field)
  if type(field) ~= "string" then
    check_field(field, "trim", 2)
  end
  if type(value) ~= "string" then
    need_string(value, field)
  end
  return trimmed(value)
end

-- s with ASCII a-z upper-cased (string.upper in the C locale the engine runs in).
-- Inside salesengine the C version (the end of this file) maps all of Unicode.
local function uppered(s)
  return (s:upper())
end

--- Upper case with Unicode's full case mapping, as Python's str.upper ("straße" ->
-- "STRASSE", "é" -> "É"; bytes that are not UTF-8 unchanged; ASCII only under
-- stock Lua, without the C module).
function M.upper(value, field)
  if type(field) ~= "string" then
    check_field(field, "upper", 2)
  end
  if type(value) ~= "string" then
    need_string(value, field)
  end
  return uppered(value)
end

--- ASCII lower case (other bytes unchanged).
function M.lower(value, field)
  check_field(field, "lower", 2)
  return (need_string(value, field):lower())
end

--- Trims, then replaces every run of ASCII whitespace with one space.
function M.collapse_spaces(value, field)
  check_field(field, "collapse_spaces", 2)
  return (need_string(value, field):match("^%s*(.-)%s*$"):gsub("%s+", " "))
end

-- A float as JSON writes it: an integral value below 2^53 as its digits (12.0 -> "12"), any other
-- float as its shortest round-trip decimal with the exponent JSON's way (1e20 -> "1e20", not
-- "1e+20"); past 2^53 the digits of the double itself would name a number the source did not write.
local function json_float(x)
  if x == math.floor(x) and x > -2 ^ 53 and x < 2 ^ 53 then
    return string.format("%d", x)
  end
  return (shortest_float(x):gsub("e%+?(%-?)0*(%d)", "e%1%2"))
end

--- A string or a number as a string: an integer as its digits, a float in its JSON spelling.
function M.text(value, field)
  if type(field) ~= "string" then
    check_field(field, "text", 2)
  end
  if type(value) == "string" then
    return value
  end
  present(value, field)
  if math.type(value) == "integer" then
    return tostring(value)
  elseif math.type(value) == "float" then
    if value ~= value or value == math.huge or value == -math.huge then
      invalid(field, value, "text", "not a finite number")
    end
    return json_float(value)
  end
  invalid(field, value, "text", "expected a string or a number, got " .. a_type(value))
end

------------------------------------------------------------------------------------------------------------
-- Records

--- First argument that is neither nil nor cjson.null (nil when there is none).
function M.coalesce(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if not is_missing(v) then
      return v
    end
  end
  return nil
end

-- The value at a dotted path, or nil when a step before the last is not a table. The leaf
-- may be cjson.null. fname names the public function for argument errors.
local function lookup(rec, path, fname)
  local ok, why = dotted.valid(path)
  if not ok then
    error("bad argument #2 to '" .. fname .. "' (" .. why .. ")", 3)
  end
  return dotted.get(rec, path)
end

--- Nested lookup by a dotted path ("customer.id", "items.1.sku"): nil when any step is
-- missing, null or not a table. A segment of digits also tries the integer key.
function M.get(rec, path)
  local v = lookup(rec, path, "get")
  if is_missing(v) then
    return nil
  end
  return v
end

--- get(rec, path), raising "missing required value" (field = path) when it is nil or null.
function M.required(rec, path)
  return present(lookup(rec, path, "required"), path)
end

--- value when it equals (==) one of the list's entries; raises otherwise.
function M.one_of(value, list, field)
  if type(list) ~= "table" then
    error("bad argument #2 to 'one_of' (list must be a table)", 2)
  end
  check_field(field, "one_of", 3)
  present(value, field)
  local shown = {}
  for i, allowed in ipairs(list) do
    if value == allowed then
      return value
    end
    if i <= 10 then
      shown[i] = render(allowed)
    end
  end
  local more = #list > 10 and ", ..." or ""
  invalid(field, value, "value", "expected one of " .. table.concat(shown, ", ") .. more)
end

------------------------------------------------------------------------------------------------------------
-- Numbers

-- Reason text for the byte of s at pos.
local function unexpected(s, pos, lead)
  return string.format("unexpected character %s at position %d", render(s:sub(pos, pos)), pos + lead)
end

-- Splits a numeric string into sign ("" or "-"), significant digits and a power of ten:
-- value = sign digits * 10^power. Returns nil and a reason when s is not a decimal number.
-- lead: how many characters were trimmed off the front (for positions in reasons).
local function parse_number(s, lead)
  if s == "" then
    return nil, "empty string"
  end
  local lower = s:lower()
  if lower:match("^[+-]?nan$") or lower:match("^[+-]?inf$") or lower:match("^[+-]?infinity$") then
    return nil, "not a finite number"
  end
  local pos, sign = 1, ""
  local c = s:sub(1, 1)
  if c == "+" or c == "-" then
    sign, pos = (c == "-" and "-" or ""), 2
  end
  local int = s:match("^%d*", pos)
  pos = pos + #int
  local frac = ""
  if s:sub(pos, pos) == "." then
    frac = s:match("^%d*", pos + 1)
    pos = pos + 1 + #frac
  end
  if int == "" and frac == "" then
    return nil, pos <= #s and unexpected(s, pos, lead) or "no digits"
  end
  local power = -#frac
  if s:sub(pos, pos):lower() == "e" then
    local exp = s:match("^[+-]?%d+", pos + 1)
    if not exp then
      return nil, "missing exponent digits"
    end
    local significant = exp:match("^[+-]?0*(%d*)$")
    local e = #significant <= 6 and math.tointeger(tonumber(exp))
    if not e or math.abs(e) > MAX_EXPONENT then
      return nil, "exponent larger than " .. MAX_EXPONENT .. " in magnitude"
    end
    power = power + e
    pos = pos + 1 + #exp
  end
  if pos <= #s then
    return nil, unexpected(s, pos, lead)
  end
  return sign, int .. frac, power
end

-- Adds one to a string of decimal digits.
local function increment(digits)
  local i = #digits
  while i >= 1 and digits:sub(i, i) == "9" do
    i = i - 1
  end
  if i == 0 then
    return "1" .. string.rep("0", #digits)
  end
  return digits:sub(1, i - 1) .. string.char(digits:byte(i) + 1) .. string.rep("0", #digits - i)
end

-- sign digits * 10^power as a string with exactly `scale` digits after the point,
-- rounded half away from zero. Pure string arithmetic.
local function format_scaled(sign, digits, power, scale)
  local shift = power + scale -- the result is digits * 10^shift, then `scale` digits go after the point
  local n
  if shift >= 0 then
    n = digits .. string.rep("0", shift)
  else
    local keep = #digits + shift
    local first_dropped = keep >= 0 and digits:sub(keep + 1, keep + 1) or "0"
    n = keep > 0 and digits:sub(1, keep) or "0"
    if first_dropped >= "5" then
      n = increment(n)
    end
  end
  n = n:match("^0*(%d-)$")
  if n:match("^0*$") then
    sign = ""
  end
  n = string.rep("0", scale + 1 - #n) .. n
  if scale == 0 then
    return sign .. n
  end
  return sign .. n:sub(1, #n - scale) .. "." .. n:sub(#n - scale + 1)
end

-- sign, digits, power of a number or numeric string; raises "invalid WHAT" otherwise.
local function number_parts(value, field, what)
  present(value, field)
  local s, lead = nil, 0
  if math.type(value) == "integer" then
    s = tostring(value)
  elseif math.type(value) == "float" then
    if value ~= value or value == math.huge or value == -math.huge then
      invalid(field, value, what, "not a finite number")
    end
    s = shortest_float(value)
  elseif type(value) == "string" then
    local spaces
    spaces, s = value:match("^(%s*)(.-)%s*$")
    lead = #spaces
  else
    invalid(field, value, what, "expected a number or a numeric string, got " .. a_type(value))
  end
  local sign, digits, power = parse_number(s, lead)
  if not sign then
    invalid(field, value, what, digits)
  end
  return sign, digits, power
end

-- "%.<scale>f" formats, and the magnitude below which a float's "%.<scale>f" text is the only
-- decimal with that many fraction digits that reads back as the float (the float's spacing is
-- then under a tenth of 10^-scale), for the scales quick_decimal handles.
local FIXED, FIXED_LIMIT = {}, {}
for scale = 0, 15 do
  FIXED[scale] = "%." .. scale .. "f"
  FIXED_LIMIT[scale] = 2 ^ 53 / 10 ^ (scale + 1)
end

-- decimal(value, scale) for the common forms, without the general parser: a plain decimal
-- string ("12", " 12.5 ", "-3.25") with at most `scale` fraction digits and no leading zeros,
-- an integer, or a float that "%.<scale>f" renders exactly (its shortest decimal then has at
-- most `scale` fraction digits). nil for anything else: the general path decides (and raises).
-- Position captures keep the common case free of new strings ("12.50" at scale 2 is returned as is).
local function quick_decimal(value, scale)
  if type(value) == "string" then
    value = trimmed(value)
    local _, last, int, dot, frac = value:find("^%-?()%d+()%.?()%d*$")
    if not last then
      return nil
    end
    local nfrac = last + 1 - frac
    local zero_lead = byte(value, int) == 48
    if nfrac > scale or (zero_lead and dot - int > 1) or (int == 2 and zero_lead and dot - int == 1) then
      return nil -- too many fraction digits, a leading zero ("007"), or "-0..." (the general path drops "-")
    end
    if frac == dot then -- no point
      return scale == 0 and value or value .. "." .. string.rep("0", scale)
    elseif scale == 0 then
      return nil -- "12." at scale 0
    end
    return nfrac == scale and value or value .. string.rep("0", scale - nfrac)
  elseif math.type(value) == "integer" then
    return scale == 0 and tostring(value) or tostring(value) .. "." .. string.rep("0", scale)
  elseif math.type(value) == "float" and FIXED[scale] and value ~= 0 and value > -FIXED_LIMIT[scale]
    and value < FIXED_LIMIT[scale] then
    local s = string.format(FIXED[scale], value)
    if tonumber(s) == value then
      return s
    end
  end
  return nil
end

--- Exact decimal string with exactly `scale` digits after the point (none when scale is 0),
-- rounded half away from zero. value: a Lua integer, a float (read as its shortest round-trip
-- decimal, so 0.1 + 0.2 gives "0.30") or a numeric string (surrounding spaces, sign, point,
-- exponent allowed). Never uses float arithmetic on the digits.
function M.decimal(value, scale, field)
  if math.type(scale) ~= "integer" or scale < 0 or scale > MAX_EXPONENT then
    error("bad argument #2 to 'decimal' (scale must be an integer from 0 to " .. MAX_EXPONENT .. ")", 2)
  end
  if type(field) ~= "string" then
    check_field(field, "decimal", 3)
  end
  local quick = quick_decimal and quick_decimal(value, scale)
  if quick then
    return quick
  end
  local sign, digits, power = number_parts(value, field, "decimal")
  return format_scaled(sign, digits, power, scale)
end

------------------------------------------------------------------------------------------------------------
-- Exact decimal arithmetic: magnitudes are strings of digits; up to 17 or 18 digits Lua integers do the
-- work exactly, longer ones go limb by limb (base 10^7, little-endian arrays).

local BASE, WIDTH = 10000000, 7

-- The limbs of a string of digits.
local function to_limbs(d)
  local out, i = {}, #d
  while i >= 1 do
    local j = math.max(1, i - WIDTH + 1)
    out[#out + 1] = math.tointeger(tonumber(d:sub(j, i)))
    i = j - 1
  end
  return out
end

-- The string of digits of limbs (no leading zeros; "0" for zero).
local function from_limbs(l)
  local n = #l
  while n > 1 and l[n] == 0 do
    n = n - 1
  end
  local parts = { tostring(l[n] or 0) }
  for k = n - 1, 1, -1 do
    parts[#parts + 1] = string.format("%07d", l[k])
  end
  return table.concat(parts)
end

-- A string of digits without its leading zeros ("0" for zero).
local function stripped(d)
  return d:match("^0*(%d-)$"):gsub("^$", "0")
end

-- -1, 0 or 1: how magnitude a compares with magnitude b.
local function compare_magnitudes(a, b)
  a, b = stripped(a), stripped(b)
  if #a ~= #b then
    return #a < #b and -1 or 1
  end
  return a == b and 0 or (a < b and -1 or 1)
end

-- a + b, magnitudes.
local function add_magnitudes(a, b)
  if #a <= 17 and #b <= 17 then
    return tostring(math.tointeger(tonumber(a)) + math.tointeger(tonumber(b)))
  end
  local x, y, out, carry = to_limbs(a), to_limbs(b), {}, 0
  for i = 1, math.max(#x, #y) do
    local v = (x[i] or 0) + (y[i] or 0) + carry
    out[i], carry = v % BASE, v // BASE
  end
  out[#out + 1] = carry
  return from_limbs(out)
end

-- a - b, magnitudes, a >= b.
local function subtract_magnitudes(a, b)
  if #a <= 18 and #b <= 18 then
    return tostring(math.tointeger(tonumber(a)) - math.tointeger(tonumber(b)))
  end
  local x, y, out, borrow = to_limbs(a), to_limbs(b), {}, 0
  for i = 1, #x do
    local v = x[i] - (y[i] or 0) - borrow
    borrow = v < 0 and 1 or 0
    out[i] = v + borrow * BASE
  end
  return from_limbs(out)
end

-- a * b, magnitudes.
local function multiply_magnitudes(a, b)
  a, b = stripped(a), stripped(b)
  if #a + #b <= 18 then
    return tostring(math.tointeger(tonumber(a)) * math.tointeger(tonumber(b)))
  end
  local x, y, out = to_limbs(a), to_limbs(b), {}
  for k = 1, #x + #y do
    out[k] = 0
  end
  for i = 1, #x do
    local carry = 0
    for j = 1, #y do
      local v = out[i + j - 1] + x[i] * y[j] + carry
      out[i + j - 1], carry = v % BASE, v // BASE
    end
    out[i + #y] = out[i + #y] + carry
  end
  return from_limbs(out)
end

-- Checks the scale and field arguments of the decimal_* functions (argument 3 and 4 of fname).
local function check_arithmetic(scale, field, fname)
  if scale ~= nil and (math.type(scale) ~= "integer" or scale < 0 or scale > MAX_EXPONENT) then
    error(string.format("bad argument #3 to '%s' (scale must be nil or an integer from 0 to %d)", fname,
      MAX_EXPONENT), 3)
  end
  if field ~= nil and type(field) ~= "string" then
    error(string.format("bad argument #4 to '%s' (field name must be a string, got %s)", fname, type(field)), 3)
  end
end

-- The digits after the point an operand of power p has written ("1.50": 2, "1e3": 0).
local function fraction_digits(p)
  return p < 0 and -p or 0
end

-- sign, digits, power of a + b (each a sign, digits, power triple).
local function add_parts(s1, d1, p1, s2, d2, p2)
  local p = math.min(p1, p2)
  d1, d2 = d1 .. string.rep("0", p1 - p), d2 .. string.rep("0", p2 - p)
  if s1 == s2 then
    return s1, add_magnitudes(d1, d2), p
  end
  local c = compare_magnitudes(d1, d2)
  if c == 0 then
    return "", "0", p
  elseif c > 0 then
    return s1, subtract_magnitudes(stripped(d1), stripped(d2)), p
  end
  return s2, subtract_magnitudes(stripped(d2), stripped(d1)), p
end

--- a + b exactly, as a decimal string (a and b: what decimal takes: integers, floats read as their shortest
-- decimal, numeric strings). scale: digits after the point, rounded half away from zero; nil: as many as
-- the operand that has the most (exact, as PostgreSQL's numeric): decimal_add("19.99", "0.01") -> "20.00".
function M.decimal_add(a, b, scale, field)
  check_arithmetic(scale, field, "decimal_add")
  local s1, d1, p1 = number_parts(a, field, "decimal")
  local s2, d2, p2 = number_parts(b, field, "decimal")
  local sign, digits, power = add_parts(s1, d1, p1, s2, d2, p2)
  return format_scaled(sign, digits, power, scale or math.max(fraction_digits(p1), fraction_digits(p2)))
end

--- a - b exactly, as a decimal string (see decimal_add).
function M.decimal_sub(a, b, scale, field)
  check_arithmetic(scale, field, "decimal_sub")
  local s1, d1, p1 = number_parts(a, field, "decimal")
  local s2, d2, p2 = number_parts(b, field, "decimal")
  local sign, digits, power = add_parts(s1, d1, p1, s2 == "-" and "" or "-", d2, p2)
  return format_scaled(sign, digits, power, scale or math.max(fraction_digits(p1), fraction_digits(p2)))
end

--- a * b exactly, as a decimal string (see decimal_add; nil scale: the digits after the point of both
-- operands together, exact: decimal_mul("19.99", 3) -> "59.97", decimal_mul("0.15", "0.5") -> "0.075").
function M.decimal_mul(a, b, scale, field)
  check_arithmetic(scale, field, "decimal_mul")
  local s1, d1, p1 = number_parts(a, field, "decimal")
  local s2, d2, p2 = number_parts(b, field, "decimal")
  return format_scaled(s1 == s2 and "" or "-", multiply_magnitudes(d1, d2), p1 + p2,
    scale or fraction_digits(p1) + fraction_digits(p2))
end

local MAX_INTEGER = tostring(math.maxinteger)

--- A Lua integer from an integer, an integral float or a numeric string ("42", " -7 ", "1e3");
-- fractions and values outside the 64-bit range are errors.
function M.integer(value, field)
  check_field(field, "integer", 2)
  if math.type(value) == "integer" then
    return value
  end
  local sign, digits, power = number_parts(value, field, "integer")
  local exact = format_scaled(sign, digits, power, power < 0 and -power or 0) -- no rounding at this scale
  local magnitude, fraction = exact:match("^-?(%d+)%.?(%d*)$")
  if fraction:match("[1-9]") then
    invalid(field, value, "integer", "not a whole number")
  end
  local limit = sign == "-" and increment(MAX_INTEGER) or MAX_INTEGER
  if #magnitude > #limit or (#magnitude == #limit and magnitude > limit) then
    invalid(field, value, "integer", "out of the 64-bit integer range")
  end
  return math.tointeger(tonumber(sign .. magnitude))
end

------------------------------------------------------------------------------------------------------------
-- Dates and times

local function is_leap(year)
  return year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
end

local function days_in_month(year, month)
  if month == 2 then
    return is_leap(year) and 29 or 28
  end
  return (month == 4 or month == 6 or month == 9 or month == 11) and 30 or 31
end

-- Moves t one day forward, across months and years.
local function next_day(t)
  t.day = t.day + 1
  if t.day > days_in_month(t.year, t.month) then
    t.day, t.month = 1, t.month + 1
    if t.month > 12 then
      t.month, t.year = 1, t.year + 1
    end
  end
end

-- Moves t one second forward, across minutes, hours and days.
local function next_second(t)
  t.sec = t.sec + 1
  if t.sec == 60 then
    t.sec, t.min = 0, t.min + 1
    if t.min == 60 then
      t.min, t.hour = 0, t.hour + 1
      if t.hour == 24 then
        t.hour = 0
        next_day(t)
      end
    end
  end
end

-- Parses "YYYY-MM-DD" and the optional time part into a table
-- {year, month, day, hour, min, sec, micro, offset, date_only}; returns nil and a reason on error.
local function parse_iso(s)
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then
    return nil, "expected YYYY-MM-DD"
  end
  local t = { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = 0, min = 0, sec = 0,
    micro = 0, offset = "+00:00", date_only = rest == "" }
  if t.year == 0 then
    return nil, "year 0000 out of range"
  elseif t.month < 1 or t.month > 12 then
    return nil, "month " .. mo .. " out of range"
  elseif t.day < 1 or t.day > days_in_month(t.year, t.month) then
    return nil, string.format("day %s out of range for %s-%s", d, y, mo)
  end
  if t.date_only then
    return t
  end
  local h, mi, tail = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
  if not h then
    return nil, "expected 'T' or a space and HH:MM after the date"
  end
  t.hour, t.min = tonumber(h), tonumber(mi)
  local sec, after_sec = tail:match("^:(%d%d)(.*)$")
  local fraction = ""
  if sec then
    t.sec, tail = tonumber(sec), after_sec
    local f, after_frac = tail:match("^[.,](%d+)(.*)$")
    if f then
      fraction, tail = f, after_frac
    end
  end
  if tail ~= "" and tail ~= "Z" and tail ~= "z" then
    local sign, oh, om = tail:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then
      sign, oh = tail:match("^([+-])(%d%d)$")
      om = "00"
    end
    if not sign then
      return nil, "expected Z, +HH:MM, +HHMM or +HH after the time, got " .. render(tail)
    end
    if tonumber(oh) > 15 or tonumber(om) > 59 then
      return nil, "offset " .. tail .. " out of range"
    end
    t.offset = (oh == "00" and om == "00") and "+00:00" or sign .. oh .. ":" .. om
  end
  local has_fraction = fraction:match("[1-9]") ~= nil
  if t.hour == 24 and (t.min > 0 or t.sec > 0 or has_fraction) then
    return nil, "hour 24 is only allowed as 24:00:00"
  elseif t.hour > 24 then
    return nil, "hour " .. h .. " out of range"
  elseif t.min > 59 then
    return nil, "minute " .. mi .. " out of range"
  elseif t.sec > 59 then
    return nil, "second " .. sec .. " out of range"
  end
  if t.hour == 24 then
    t.hour = 0
    next_day(t)
  end
  -- Microseconds, rounded half up from the digits after the sixth.
  t.micro = tonumber((fraction .. "000000"):sub(1, 6))
  if fraction:sub(7, 7) >= "5" then
    t.micro = t.micro + 1
    if t.micro == 1000000 then
      t.micro = 0
      next_second(t)
    end
  end
  if t.year > 9999 then
    return nil, "year out of range after normalising"
  end
  return t
end

-- Parses value (a string, surrounding spaces ignored) as ISO-8601; raises "invalid WHAT".
local function iso_parts(value, field, what)
  present(value, field)
  if type(value) ~= "string" then
    invalid(field, value, what, "expected a string, got " .. a_type(value))
  end
  local t, reason = parse_iso(value:match("^%s*(.-)%s*$"))
  if not t then
    invalid(field, value, what, reason)
  end
  return t
end

-- The number written by the two digits of s at i (the caller has checked they are digits).
local function two_digits(s, i)
  local a, b = byte(s, i, i + 1)
  return (a - 48) * 10 + b - 48
end

-- iso_datetime(s) for the common forms, without the general parser: "YYYY-MM-DDTHH:MM:SS" (or
-- a space or "t" between), up to six fraction digits after a ".", then nothing, Z or ±HH:MM.
-- nil for anything else (other forms, out-of-range fields, surrounding spaces): the general
-- path decides. Works on byte positions, so a text already in normal form is returned as is.
local function quick_iso(s)
  if not s:find("^%d%d%d%d%-%d%d%-%d%d[Tt ]%d%d:%d%d:%d%d") then
    return nil
  end
  local month, day = two_digits(s, 6), two_digits(s, 9)
  if month < 1 or month > 12 or day < 1 or two_digits(s, 12) > 23 or two_digits(s, 15) > 59
    or two_digits(s, 18) > 59 or s:find("^0000") then
    return nil
  end
  if day > 28 and day > days_in_month(two_digits(s, 1) * 100 + two_digits(s, 3), month) then
    return nil
  end
  local normal = byte(s, 11) == 84 -- "T"
  local fraction, rest = "", 20
  if byte(s, 20) == 46 then -- "."
    local _, last = s:find("^%d+", 21)
    if not last or last > 26 then
      return nil -- no digits, or more than six (rounding: the general path)
    end
    local digits = s:sub(21, last)
    if digits:find("[1-9]") then
      fraction = "." .. digits .. string.rep("0", 26 - last)
      normal = normal and last == 26
    else
      normal = false -- a zero fraction is left out
    end
    rest = last + 1
  end
  local n, offset = #s, "+00:00"
  if rest == n + 1 or (rest == n and (byte(s, n) == 90 or byte(s, n) == 122)) then -- nothing, Z, z
    normal = false
  elseif rest + 5 == n and s:find("^[+-]%d%d:%d%d$", rest) then
    local oh, om = two_digits(s, rest + 1), two_digits(s, rest + 4)
    if oh > 15 or om > 59 then
      return nil
    elseif oh == 0 and om == 0 then
      normal = false
    else
      offset = s:sub(rest)
    end
  else
    return nil
  end
  if normal then
    return s
  end
  return s:sub(1, 10) .. "T" .. s:sub(12, 19) .. fraction .. offset
end

--- Normalised ISO-8601 date-time "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM".
-- Accepts a date alone (midnight), HH:MM, HH:MM:SS, fractions (rounded to microseconds; shown
-- only when not zero), "T" or a space, and Z, +HH:MM, +HHMM or +HH. No offset means UTC.
-- The offset is kept as written (not converted). 24:00:00 becomes the next day's midnight.
function M.iso_datetime(value, field)
  if type(field) ~= "string" then
    check_field(field, "iso_datetime", 2)
  end
  local quick = quick_iso and type(value) == "string" and quick_iso(value)
  if quick then
    return quick
  end
  local t = iso_parts(value, field, "ISO-8601 date-time")
  local fraction = t.micro > 0 and string.format(".%06d", t.micro) or ""
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d%s%s", t.year, t.month, t.day, t.hour, t.min, t.sec,
    fraction, t.offset)
end

--- Normalised ISO-8601 date "YYYY-MM-DD": a date alone, or the calendar date of a full
-- date-time as written (validated like iso_datetime; the offset is not applied).
function M.iso_date(value, field)
  check_field(field, "iso_date", 2)
  local t = iso_parts(value, field, "ISO-8601 date")
  return string.format("%04d-%02d-%02d", t.year, t.month, t.day)
end

-- Which code answers the hot helpers (decimal, iso_datetime, trim, upper, text), the switch
-- SALESENGINE_HELPERS (docs/performance.md measures each): "c", the default inside salesengine:
-- the C module salesengine.transform_fast takes over the quick paths above and answers the common
-- cases without a Lua call; "lua": the quick paths in Lua above; "plain": the general code only.
-- The results are the same (tests/spec/transform_fast_spec.lua). Inside salesengine trim and upper
-- are always the C ones, which know all of Unicode; under stock Lua the Lua versions run.
local helpers = os.getenv("SALESENGINE_HELPERS") or "c"
if helpers ~= "c" and helpers ~= "lua" and helpers ~= "plain" then
  error("SALESENGINE_HELPERS must be c, lua or plain, not '" .. helpers .. "'", 0)
end
if helpers == "plain" then
  quick_decimal, quick_iso = nil, nil
end
local has_fast, fast = pcall(require, "salesengine.transform_fast")
if has_fast and type(fast) == "table" then
  trimmed, uppered = fast.trim, fast.upper
  if helpers == "c" then
    quick_decimal, quick_iso = fast.decimal, fast.iso_datetime
    for name, f in pairs(fast.helpers(M, MAX_EXPONENT)) do
      M[name] = f
    end
  end
end

return M
