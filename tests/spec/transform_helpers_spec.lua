-- Specs for salesengine.transform (pure Lua): run from the repo root with
--   build/salesengine /usr/bin/busted tests/spec/transform_helpers_spec.lua
--   busted --lua=lua5.4 tests/spec/transform_helpers_spec.lua
package.path = "bindings/lua/?.lua;scripts/?.lua;" .. package.path

local tx = require "salesengine.transform"
local cjson = require "cjson"

-- The error raised by fn(...); fails the test when fn returns normally.
local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error, got a result: " .. tostring(err))
  return err
end

-- Asserts that fn(...) raises a structured error with exactly these field, value and message.
local function rejects(field, value, message, fn, ...)
  local err = failure(fn, ...)
  assert.is_true(tx.is_error(err), "expected a structured error, got: " .. tostring(err))
  assert.are.equal(field, err.field)
  assert.are.equal(value, err.value)
  assert.are.equal(message, err.message)
  return err
end

-- Asserts that fn(...) raises a plain string error (a programmer mistake) containing text.
local function misuse(text, fn, ...)
  local err = failure(fn, ...)
  assert.are.equal("string", type(err))
  assert.is_truthy(err:find(text, 1, true), "expected '" .. text .. "' in: " .. err)
end

describe("salesengine.transform", function()
  describe("errors", function()
    it("are tables with field, value, message and a readable tostring", function()
      local err = rejects("date", '"2026-13-45"', 'invalid ISO-8601 date-time "2026-13-45" (month 13 out of range)',
        tx.iso_datetime, "2026-13-45", "date")
      assert.are.equal([[field 'date': invalid ISO-8601 date-time "2026-13-45" (month 13 out of range)]],
        tostring(err))
    end)

    it("leave out the field prefix when no field name was given", function()
      local err = failure(tx.decimal, "x", 2)
      assert.is_nil(err.field)
      assert.are.equal('invalid decimal "x" (unexpected character "x" at position 1)', tostring(err))
    end)

    it("is_error tells them apart from other values", function()
      assert.is_true(tx.is_error(failure(tx.trim, nil)))
      assert.is_false(tx.is_error("field 'x': oops"))
      assert.is_false(tx.is_error({ field = "x", value = "1", message = "m" }))
      assert.is_false(tx.is_error(nil))
    end)

    it("fail raises a custom error that shows the value", function()
      local err = rejects("amount_usd", "-5", "must not be negative (got -5)", tx.fail, "amount_usd", -5,
        "must not be negative")
      assert.are.equal("field 'amount_usd': must not be negative (got -5)", tostring(err))
      rejects(nil, '"x"', 'bad record (got "x")', tx.fail, nil, "x", "bad record")
      misuse("message must be a string", tx.fail, "f", 1, nil)
      misuse("field name must be a string", tx.fail, 5, 1, "m")
    end)

    it("annotate puts a context in front of a structured error without changing the original", function()
      local err = failure(tx.decimal, "12,5x", 2, "amount_usd")
      local annotated = tx.annotate(err, 'record 3 (id "17")')
      assert.is_true(tx.is_error(annotated))
      assert.are.equal("amount_usd", annotated.field)
      assert.are.equal('"12,5x"', annotated.value)
      assert.are.equal(err.message, annotated.message)
      assert.are.equal([[record 3 (id "17"): field 'amount_usd': invalid decimal "12,5x" ]]
        .. [[(unexpected character "," at position 3)]], tostring(annotated))
      assert.are.equal([[field 'amount_usd': invalid decimal "12,5x" (unexpected character "," at position 3)]],
        tostring(err))
      assert.are.equal("batch 2: record 3: field 'amount_usd': " .. err.message,
        tostring(tx.annotate(tx.annotate(err, "record 3"), "batch 2")))
    end)

    it("annotate turns any other error into a string", function()
      assert.are.equal("record 2: boom", tx.annotate("boom", "record 2"))
      misuse("context must be a string", tx.annotate, "boom", 2)
    end)
  end)

  describe("render", function()
    it("quotes and escapes strings", function()
      assert.are.equal('"abc"', tx.render("abc"))
      assert.are.equal([["a\"b\\c\n\t\r\x01"]], tx.render('a"b\\c\n\t\r\1'))
    end)

    it("cuts long strings at 60 bytes without splitting a UTF-8 character", function()
      assert.are.equal('"' .. string.rep("x", 60) .. '..."', tx.render(string.rep("x", 61)))
      assert.are.equal('"' .. string.rep("x", 60) .. '"', tx.render(string.rep("x", 60)))
      local rendered = tx.render("x" .. string.rep("é", 40)) -- é is 2 bytes: byte 60 starts one
      assert.are.equal('"x' .. string.rep("é", 29) .. '..."', rendered)
    end)

    it("renders numbers in their shortest form and other values by kind", function()
      assert.are.equal("12", tx.render(12))
      assert.are.equal("0.30000000000000004", tx.render(0.1 + 0.2))
      assert.are.equal("12", tx.render(12.0))
      assert.are.equal("1e+300", tx.render(1e300))
      assert.are.equal("nan", tx.render(0 / 0))
      assert.are.equal("inf", tx.render(math.huge))
      assert.are.equal("-inf", tx.render(-math.huge))
      assert.are.equal("true", tx.render(true))
      assert.are.equal("nil", tx.render(nil))
      assert.are.equal("null", tx.render(cjson.null))
      assert.are.equal("<table>", tx.render({}))
      assert.are.equal("<function>", tx.render(print))
    end)
  end)

  describe("iso_datetime", function()
    local function norm(s)
      return tx.iso_datetime(s, "date")
    end

    it("turns a date alone into midnight UTC", function()
      assert.are.equal("2026-01-05T00:00:00+00:00", norm("2026-01-05"))
    end)

    it("accepts minutes, seconds and fractions, with T, t or a space", function()
      assert.are.equal("2026-01-05T10:30:00+00:00", norm("2026-01-05T10:30"))
      assert.are.equal("2026-01-05T10:30:15+00:00", norm("2026-01-05T10:30:15"))
      assert.are.equal("2026-01-05T10:30:15+00:00", norm("2026-01-05 10:30:15"))
      assert.are.equal("2026-01-05T10:30:15+00:00", norm("2026-01-05t10:30:15"))
      assert.are.equal("2026-01-05T10:30:15.500000+00:00", norm("2026-01-05T10:30:15.5"))
      assert.are.equal("2026-01-05T10:30:15.123456+00:00", norm("2026-01-05T10:30:15.123456"))
      assert.are.equal("2026-01-05T10:30:15.250000+00:00", norm("2026-01-05T10:30:15,25"))
    end)

    it("drops an all-zero fraction", function()
      assert.are.equal("2026-01-05T10:30:15+00:00", norm("2026-01-05T10:30:15.000"))
    end)

    it("rounds fractions to microseconds, half up, carrying into seconds, days and years", function()
      assert.are.equal("2026-01-05T10:30:15.123457+00:00", norm("2026-01-05T10:30:15.1234567"))
      assert.are.equal("2026-01-05T10:30:15.123456+00:00", norm("2026-01-05T10:30:15.1234564999"))
      assert.are.equal("2026-01-05T10:30:15+00:00", norm("2026-01-05T10:30:15.0000004"))
      assert.are.equal("2026-01-05T10:31:00+00:00", norm("2026-01-05T10:30:59.9999995"))
      assert.are.equal("2026-03-01T00:00:00+00:00", norm("2026-02-28T23:59:59.9999999"))
      assert.are.equal("2024-02-29T00:00:00+00:00", norm("2024-02-28T23:59:59.9999999"))
      assert.are.equal("2027-01-01T00:00:00-03:00", norm("2026-12-31T23:59:59.99999951-03:00"))
    end)

    it("normalises every offset form and keeps the offset as written", function()
      assert.are.equal("2026-01-05T10:30:00+00:00", norm("2026-01-05T10:30:00Z"))
      assert.are.equal("2026-01-05T10:30:00+00:00", norm("2026-01-05T10:30:00z"))
      assert.are.equal("2026-01-05T10:30:00+00:00", norm("2026-01-05T10:30:00+00:00"))
      assert.are.equal("2026-01-05T10:30:00+00:00", norm("2026-01-05T10:30:00-00:00"))
      assert.are.equal("2026-01-05T10:30:00+05:30", norm("2026-01-05T10:30:00+05:30"))
      assert.are.equal("2026-01-05T10:30:00-05:30", norm("2026-01-05T10:30:00-0530"))
      assert.are.equal("2026-01-05T10:30:00+02:00", norm("2026-01-05T10:30:00+02"))
      assert.are.equal("2026-01-05T10:30:00+14:00", norm("2026-01-05T10:30+14:00"))
      assert.are.equal("2026-01-05T10:30:00.100000-15:59", norm("2026-01-05T10:30:00.1-15:59"))
    end)

    it("treats a missing offset as UTC", function()
      assert.are.equal(norm("2026-01-05T10:30:00+00:00"), norm("2026-01-05T10:30:00"))
    end)

    it("ignores surrounding whitespace", function()
      assert.are.equal("2026-01-05T10:30:00+01:00", norm("  2026-01-05T10:30:00+01:00\n"))
    end)

    it("reads 24:00:00 as midnight of the next day", function()
      assert.are.equal("2026-01-06T00:00:00+00:00", norm("2026-01-05T24:00:00"))
      assert.are.equal("2026-01-06T00:00:00+00:00", norm("2026-01-05T24:00"))
      assert.are.equal("2024-02-29T00:00:00+01:00", norm("2024-02-28T24:00:00+01:00"))
      assert.are.equal("2026-03-01T00:00:00+00:00", norm("2026-02-28T24:00:00.000"))
      assert.are.equal("2027-01-01T00:00:00+00:00", norm("2026-12-31T24:00:00Z"))
    end)

    it("knows the leap years", function()
      assert.are.equal("2024-02-29T00:00:00+00:00", norm("2024-02-29"))
      assert.are.equal("2000-02-29T12:00:00+00:00", norm("2000-02-29T12:00"))
      assert.are.equal("2026-04-30T00:00:00+00:00", norm("2026-04-30"))
      assert.are.equal("2026-12-31T23:59:59+00:00", norm("2026-12-31T23:59:59"))
      local msg = 'invalid ISO-8601 date-time "%s" (day 29 out of range for %s-02)'
      rejects("date", '"2026-02-29"', msg:format("2026-02-29", "2026"), norm, "2026-02-29")
      rejects("date", '"1900-02-29"', msg:format("1900-02-29", "1900"), norm, "1900-02-29")
      rejects("date", '"2100-02-29"', msg:format("2100-02-29", "2100"), norm, "2100-02-29")
    end)

    it("rejects out-of-range fields, naming the one at fault", function()
      local cases = {
        { "2026-13-45", "month 13 out of range" },
        { "2026-00-10", "month 00 out of range" },
        { "2026-04-31", "day 31 out of range for 2026-04" },
        { "2026-01-32", "day 32 out of range for 2026-01" },
        { "2026-01-00", "day 00 out of range for 2026-01" },
        { "0000-01-01", "year 0000 out of range" },
        { "2026-01-05T24:00:01", "hour 24 is only allowed as 24:00:00" },
        { "2026-01-05T24:01", "hour 24 is only allowed as 24:00:00" },
        { "2026-01-05T24:00:00.5", "hour 24 is only allowed as 24:00:00" },
        { "2026-01-05T25:00", "hour 25 out of range" },
        { "2026-01-05T10:60", "minute 60 out of range" },
        { "2026-01-05T10:30:60", "second 60 out of range" },
        { "2026-01-05T10:30:00+16:00", "offset +16:00 out of range" },
        { "2026-01-05T10:30:00-05:60", "offset -05:60 out of range" },
        { "9999-12-31T24:00:00", "year out of range after normalising" },
        { "9999-12-31T23:59:59.9999999Z", "year out of range after normalising" },
      }
      for _, case in ipairs(cases) do
        local input, reason = case[1], case[2]
        rejects("date", '"' .. input .. '"', 'invalid ISO-8601 date-time "' .. input .. '" (' .. reason .. ")",
          norm, input)
      end
    end)

    it("rejects malformed text", function()
      local cases = {
        { "", "expected YYYY-MM-DD" },
        { "2026-1-5", "expected YYYY-MM-DD" },
        { "2026/01/05", "expected YYYY-MM-DD" },
        { "05.01.2026", "expected YYYY-MM-DD" },
        { "20260105", "expected YYYY-MM-DD" },
        { "2026-01-05x", "expected 'T' or a space and HH:MM after the date" },
        { "2026-01-05T10", "expected 'T' or a space and HH:MM after the date" },
        { "2026-01-05T1:30", "expected 'T' or a space and HH:MM after the date" },
        { "2026-01-05T10:30:00.", [[expected Z, +HH:MM, +HHMM or +HH after the time, got "."]] },
        { "2026-01-05T10:30.5", [[expected Z, +HH:MM, +HHMM or +HH after the time, got ".5"]] },
        { "2026-01-05T10:30:00+5", [[expected Z, +HH:MM, +HHMM or +HH after the time, got "+5"]] },
        { "2026-01-05T10:30:00 +01:00", [[expected Z, +HH:MM, +HHMM or +HH after the time, got " +01:00"]] },
        { "2026-01-05T10:30:00ZZ", [[expected Z, +HH:MM, +HHMM or +HH after the time, got "ZZ"]] },
        { "2026-01-05T10:30:00 UTC", [[expected Z, +HH:MM, +HHMM or +HH after the time, got " UTC"]] },
      }
      for _, case in ipairs(cases) do
        local input, reason = case[1], case[2]
        rejects("date", tx.render(input), "invalid ISO-8601 date-time " .. tx.render(input) .. " (" .. reason .. ")",
          norm, input)
      end
    end)

    it("rejects values that are not strings, and missing values", function()
      rejects("date", "20260105", "invalid ISO-8601 date-time 20260105 (expected a string, got a number)",
        norm, 20260105)
      rejects("date", "true", "invalid ISO-8601 date-time true (expected a string, got a boolean)", norm, true)
      rejects("date", "<table>", "invalid ISO-8601 date-time <table> (expected a string, got a table)", norm, {})
      rejects("date", "nil", "missing required value (got nil)", norm, nil)
      rejects("date", "null", "missing required value (got null)", norm, cjson.null)
    end)

    it("rejects a field name that is not a string as a programmer mistake", function()
      misuse("bad argument #2 to 'iso_datetime'", tx.iso_datetime, "2026-01-05", 7)
    end)
  end)

  describe("iso_date", function()
    it("normalises a date", function()
      assert.are.equal("2026-01-05", tx.iso_date("2026-01-05", "d"))
      assert.are.equal("2024-02-29", tx.iso_date(" 2024-02-29 ", "d"))
    end)

    it("keeps the calendar date of a date-time as written", function()
      assert.are.equal("2026-01-05", tx.iso_date("2026-01-05T23:30:00-05:00", "d"))
      assert.are.equal("2026-01-05", tx.iso_date("2026-01-05 00:00", "d"))
      assert.are.equal("2026-01-06", tx.iso_date("2026-01-05T24:00:00", "d"))
    end)

    it("validates like iso_datetime, naming a date", function()
      rejects("d", '"2026-13-45"', 'invalid ISO-8601 date "2026-13-45" (month 13 out of range)',
        tx.iso_date, "2026-13-45", "d")
      rejects("d", '"2026-02-29"', 'invalid ISO-8601 date "2026-02-29" (day 29 out of range for 2026-02)',
        tx.iso_date, "2026-02-29", "d")
      rejects("d", '"2026-01-05T10:99"', 'invalid ISO-8601 date "2026-01-05T10:99" (minute 99 out of range)',
        tx.iso_date, "2026-01-05T10:99", "d")
      rejects("d", "null", "missing required value (got null)", tx.iso_date, cjson.null, "d")
      rejects("d", "5", "invalid ISO-8601 date 5 (expected a string, got a number)", tx.iso_date, 5, "d")
    end)
  end)

  describe("decimal", function()
    local function dec(v, scale)
      return tx.decimal(v, scale or 2, "amount_usd")
    end

    it("formats integers exactly", function()
      assert.are.equal("12.00", dec(12))
      assert.are.equal("-3.00", dec(-3))
      assert.are.equal("0.00", dec(0))
      assert.are.equal("12", dec(12, 0))
      assert.are.equal("9223372036854775807.00", dec(math.maxinteger))
      assert.are.equal("-9223372036854775808.00", dec(math.mininteger))
    end)

    it("reads floats as their shortest round-trip decimal, so there is no drift", function()
      assert.are.equal("0.30", dec(0.1 + 0.2))
      assert.are.equal("0.30000000000000004", dec(0.1 + 0.2, 17))
      assert.are.equal("20.00", dec(19.999))
      assert.are.equal("19.99", dec(19.994))
      assert.are.equal("19.99", dec(19.99))
      assert.are.equal("2.68", dec(2.675))   -- the double is 2.67499999..., the JSON text was 2.675
      assert.are.equal("1.01", dec(1.005))   -- likewise 1.00499999...
      assert.are.equal("-2.68", dec(-2.675))
      assert.are.equal("12.00", dec(12.0))
      assert.are.equal("0.00", dec(-0.0))
      assert.are.equal("0.3333", dec(1 / 3, 4))
      assert.are.equal("123456789.12", dec(123456789.123))
    end)

    it("writes large and small floats out in full", function()
      assert.are.equal("100000000000000000000.00", dec(1e20))
      assert.are.equal("1" .. string.rep("0", 300) .. ".00", dec(1e300))
      assert.are.equal("9223372036854776000.00", dec(2.0 ^ 63))
      assert.are.equal("0.00", dec(1.5e-7))
      assert.are.equal("0.0000002", dec(1.5e-7, 7))
      assert.are.equal("0.00000015", dec(1.5e-7, 8))
    end)

    it("parses numeric strings", function()
      assert.are.equal("12.50", dec("12.5"))
      assert.are.equal("12.50", dec(" 12.50 "))
      assert.are.equal("3.00", dec("\t3\n"))
      assert.are.equal("7.00", dec("+7"))
      assert.are.equal("0.50", dec(".5"))
      assert.are.equal("5.00", dec("5."))
      assert.are.equal("7.10", dec("007.10"))
      assert.are.equal("1000.00", dec("1e3"))
      assert.are.equal("0.01", dec("1E-2"))
      assert.are.equal("150.00", dec("1.5e+2"))
      assert.are.equal("100000.00", dec("1e0000005"))
      assert.are.equal("0.00", dec("-0"))
      assert.are.equal("1" .. string.rep("0", 300) .. ".00", dec("1e300"))
      assert.are.equal("123456789012345678901234567890.13", dec("123456789012345678901234567890.125"))
      assert.are.equal("0.10000000000000000000", dec("0.1", 20))
      assert.are.equal("1.2346", dec("1.23456", 4))
    end)

    it("rounds half away from zero on the first dropped digit", function()
      assert.are.equal("0.01", dec("0.005"))
      assert.are.equal("-0.01", dec("-0.005"))
      assert.are.equal("0.00", dec("0.0049999999999"))
      assert.are.equal("0.13", dec("0.125"))
      assert.are.equal("-0.13", dec("-0.125"))
      assert.are.equal("0.12", dec("0.1249"))
      assert.are.equal("1.00", dec("0.995"))
      assert.are.equal("10.00", dec("9.995"))
      assert.are.equal("-1000.00", dec("-999.995"))
      assert.are.equal("13", dec("12.5", 0))
      assert.are.equal("-13", dec("-12.5", 0))
      assert.are.equal("1", dec("0.5", 0))
      assert.are.equal("0", dec("0.4", 0))
      assert.are.equal("0.00", dec("1e-1000"))
    end)

    it("never writes a negative zero", function()
      assert.are.equal("0.00", dec("-0.001"))
      assert.are.equal("0.00", dec("-0.004"))
      assert.are.equal("0", dec("-0.4", 0))
    end)

    it("keeps negative amounts", function()
      assert.are.equal("-5.50", dec("-5.5"))
      assert.are.equal("-5.50", dec(-5.5))
      assert.are.equal("-1234567.89", dec(-1234567.891))
    end)

    it("rejects text that is not a decimal number, naming the problem", function()
      local cases = {
        { "12,5x", 'unexpected character "," at position 3' },
        { " 12,5x ", 'unexpected character "," at position 4' },
        { "1,234.50", 'unexpected character "," at position 2' },
        { "", "empty string" },
        { "   ", "empty string" },
        { "NaN", "not a finite number" },
        { "nan", "not a finite number" },
        { "inf", "not a finite number" },
        { "-Infinity", "not a finite number" },
        { "abc", 'unexpected character "a" at position 1' },
        { "$12", 'unexpected character "$" at position 1' },
        { "-", "no digits" },
        { ".", "no digits" },
        { "1.2.3", 'unexpected character "." at position 4' },
        { "--1", 'unexpected character "-" at position 2' },
        { "1 000", 'unexpected character " " at position 2' },
        { "0x10", 'unexpected character "x" at position 2' },
        { "1e", "missing exponent digits" },
        { "1e+", "missing exponent digits" },
        { "1e1001", "exponent larger than 1000 in magnitude" },
        { "1e-99999999", "exponent larger than 1000 in magnitude" },
      }
      for _, case in ipairs(cases) do
        local input, reason = case[1], case[2]
        rejects("amount_usd", tx.render(input), "invalid decimal " .. tx.render(input) .. " (" .. reason .. ")",
          dec, input)
      end
    end)

    it("rejects non-finite floats, other types and missing values", function()
      rejects("amount_usd", "nan", "invalid decimal nan (not a finite number)", dec, 0 / 0)
      rejects("amount_usd", "inf", "invalid decimal inf (not a finite number)", dec, math.huge)
      rejects("amount_usd", "-inf", "invalid decimal -inf (not a finite number)", dec, -math.huge)
      rejects("amount_usd", "true", "invalid decimal true (expected a number or a numeric string, got a boolean)",
        dec, true)
      rejects("amount_usd", "<table>",
        "invalid decimal <table> (expected a number or a numeric string, got a table)", dec, {})
      rejects("amount_usd", "nil", "missing required value (got nil)", dec, nil)
      rejects("amount_usd", "null", "missing required value (got null)", dec, cjson.null)
    end)

    it("rejects a bad scale as a programmer mistake", function()
      misuse("scale must be an integer", tx.decimal, 1, -1, "f")
      misuse("scale must be an integer", tx.decimal, 1, 1.5, "f")
      misuse("scale must be an integer", tx.decimal, 1, "2", "f")
      misuse("scale must be an integer", tx.decimal, 1, nil, "f")
      misuse("bad argument #3 to 'decimal'", tx.decimal, 1, 2, {})
    end)
  end)

  describe("integer", function()
    local function int(v)
      return tx.integer(v, "qty")
    end

    it("returns Lua integers from integers, integral floats and numeric strings", function()
      assert.are.equal(42, int(42))
      assert.are.equal("integer", math.type(int(42.0)))
      assert.are.equal(42, int(42.0))
      assert.are.equal(42, int("42"))
      assert.are.equal(-7, int(" -7 "))
      assert.are.equal(7, int("+7"))
      assert.are.equal(1000, int("1e3"))
      assert.are.equal(42, int("4.2e1"))
      assert.are.equal(42, int("42.000"))
      assert.are.equal(0, int("-0"))
      assert.are.equal(math.maxinteger, int("9223372036854775807"))
      assert.are.equal(math.mininteger, int("-9223372036854775808"))
      assert.are.equal("integer", math.type(int("12")))
    end)

    it("rejects fractions, out-of-range values and other types", function()
      rejects("qty", "1.5", "invalid integer 1.5 (not a whole number)", int, 1.5)
      rejects("qty", '"4.25e1"', 'invalid integer "4.25e1" (not a whole number)', int, "4.25e1")
      rejects("qty", '"0.0000001"', 'invalid integer "0.0000001" (not a whole number)', int, "0.0000001")
      rejects("qty", '"9223372036854775808"',
        'invalid integer "9223372036854775808" (out of the 64-bit integer range)', int, "9223372036854775808")
      rejects("qty", '"-9223372036854775809"',
        'invalid integer "-9223372036854775809" (out of the 64-bit integer range)', int, "-9223372036854775809")
      rejects("qty", "9.223372036854776e+18",
        "invalid integer 9.223372036854776e+18 (out of the 64-bit integer range)", int, 2.0 ^ 63)
      rejects("qty", '"12x"', 'invalid integer "12x" (unexpected character "x" at position 3)', int, "12x")
      rejects("qty", "nan", "invalid integer nan (not a finite number)", int, 0 / 0)
      rejects("qty", "true", "invalid integer true (expected a number or a numeric string, got a boolean)",
        int, true)
      rejects("qty", "null", "missing required value (got null)", int, cjson.null)
    end)
  end)

  describe("text", function()
    it("keeps strings and writes numbers without a spurious .0", function()
      assert.are.equal("A-17", tx.text("A-17", "id"))
      assert.are.equal("", tx.text("", "id"))
      assert.are.equal("17", tx.text(17, "id"))
      assert.are.equal("17", tx.text(17.0, "id"))
      assert.are.equal("-3", tx.text(-3.0, "id"))
      assert.are.equal("0", tx.text(-0.0, "id"))
      assert.are.equal("1.5", tx.text(1.5, "id"))
      assert.are.equal("0.30000000000000004", tx.text(0.1 + 0.2, "id"))
      assert.are.equal("9007199254740993", tx.text(9007199254740993, "id"))
    end)

    it("writes a float in its JSON spelling, and past 2^53 as the decimal the source wrote", function()
      assert.are.equal("1e20", tx.text(1e20, "id"))
      assert.are.equal("-1.5e-7", tx.text(-1.5e-7, "id"))
      assert.are.equal("1e300", tx.text(1e300, "id"))
      assert.are.equal("1000000000000000", tx.text(1e15, "id"))
      assert.are.equal("9007199254740991", tx.text(2.0 ^ 53 - 1, "id"))
      assert.are.equal("9007199254740992", tx.text(2.0 ^ 53, "id"))
      -- 2^60's digits are 1152921504606846976, but the JSON 1.152921504606847e18 decodes to that double
      assert.are.equal("1.152921504606847e18", tx.text(2.0 ^ 60, "id"))
      assert.are.equal("18446744073709551617", tx.text("18446744073709551617", "id")) -- kept as text by the decoder
    end)

    it("rejects other types, non-finite numbers and missing values", function()
      rejects("id", "true", "invalid text true (expected a string or a number, got a boolean)", tx.text, true, "id")
      rejects("id", "<table>", "invalid text <table> (expected a string or a number, got a table)",
        tx.text, {}, "id")
      rejects("id", "inf", "invalid text inf (not a finite number)", tx.text, math.huge, "id")
      rejects("id", "nil", "missing required value (got nil)", tx.text, nil, "id")
      rejects("id", "null", "missing required value (got null)", tx.text, cjson.null, "id")
    end)
  end)

  describe("string helpers", function()
    it("trim removes surrounding whitespace only", function()
      assert.are.equal("eu west", tx.trim("  eu west \t\r\n", "region"))
      assert.are.equal("", tx.trim("   ", "region"))
      assert.are.equal("x", tx.trim("x", "region"))
    end)

    it("upper follows Unicode inside the engine (ASCII only under stock Lua); lower changes ASCII only", function()
      local in_engine = pcall(require, "salesengine.transform_fast")
      assert.are.equal("EU-WEST 1", tx.upper("eu-West 1", "region"))
      assert.are.equal("eu-west 1", tx.lower("EU-West 1", "region"))
      assert.are.equal(in_engine and "ÉTE" or "éTE", tx.upper("éte", "region"))
      assert.are.equal(" a ", tx.lower(" A ", "region"))
      assert.are.equal("É", tx.lower("É", "region"))
    end)

    it("collapse_spaces trims and squeezes inner whitespace to single spaces", function()
      assert.are.equal("north america", tx.collapse_spaces("  north \t\n america  ", "region"))
      assert.are.equal("a b c", tx.collapse_spaces("a b  c", "region"))
      assert.are.equal("", tx.collapse_spaces(" \t ", "region"))
    end)

    it("reject non-strings and missing values", function()
      for name, fn in pairs({ trim = tx.trim, upper = tx.upper, lower = tx.lower,
        collapse_spaces = tx.collapse_spaces }) do
        rejects("region", "12", "invalid text 12 (expected a string, got a number)", fn, 12, "region")
        rejects("region", "null", "missing required value (got null)", fn, cjson.null, "region")
        rejects("region", "nil", "missing required value (got nil)", fn, nil, "region")
        misuse("bad argument #2 to '" .. name .. "'", fn, "x", 3)
      end
    end)
  end)

  describe("get", function()
    local rec = {
      id = 7,
      customer = { id = "C-1", address = { city = "Lyon" }, vip = false, note = cjson.null },
      items = { { sku = "A" }, { sku = "B" } },
      codes = { ["1"] = "string key", "integer key" },
      name = "Ann",
      missing = cjson.null,
    }

    it("looks up top-level and nested fields", function()
      assert.are.equal(7, tx.get(rec, "id"))
      assert.are.equal("C-1", tx.get(rec, "customer.id"))
      assert.are.equal("Lyon", tx.get(rec, "customer.address.city"))
      assert.are.equal(false, tx.get(rec, "customer.vip"))
      assert.are.same({ city = "Lyon" }, tx.get(rec, "customer.address"))
    end)

    it("indexes arrays by number, preferring a string key when there is one", function()
      assert.are.equal("B", tx.get(rec, "items.2.sku"))
      assert.are.equal("string key", tx.get(rec, "codes.1"))
      assert.is_nil(tx.get(rec, "items.3.sku"))
    end)

    it("returns nil when a step is missing, null or not a table", function()
      assert.is_nil(tx.get(rec, "nope"))
      assert.is_nil(tx.get(rec, "customer.nope.city"))
      assert.is_nil(tx.get(rec, "missing"))
      assert.is_nil(tx.get(rec, "missing.x"))
      assert.is_nil(tx.get(rec, "customer.note"))
      assert.is_nil(tx.get(rec, "name.len"))
      assert.is_nil(tx.get(rec, "id.x"))
      assert.is_nil(tx.get(nil, "id"))
      assert.is_nil(tx.get(cjson.null, "id"))
    end)

    it("rejects a bad path as a programmer mistake", function()
      misuse("path must be a non-empty string", tx.get, rec, "")
      misuse("path must be a non-empty string", tx.get, rec, 1)
      misuse("empty segment in path 'customer..id'", tx.get, rec, "customer..id")
      misuse("empty segment in path '.id'", tx.get, rec, ".id")
    end)
  end)

  describe("required", function()
    local rec = { id = 0, name = "", ok = false, customer = { id = "C-1", email = cjson.null }, gone = cjson.null }

    it("returns present values, including 0, false and the empty string", function()
      assert.are.equal(0, tx.required(rec, "id"))
      assert.are.equal("", tx.required(rec, "name"))
      assert.are.equal(false, tx.required(rec, "ok"))
      assert.are.equal("C-1", tx.required(rec, "customer.id"))
    end)

    it("raises for missing and null values, naming the path", function()
      local err = rejects("region", "nil", "missing required value (got nil)", tx.required, rec, "region")
      assert.are.equal("field 'region': missing required value (got nil)", tostring(err))
      rejects("gone", "null", "missing required value (got null)", tx.required, rec, "gone")
      rejects("customer.email", "null", "missing required value (got null)", tx.required, rec, "customer.email")
      rejects("customer.address.city", "nil", "missing required value (got nil)", tx.required, rec,
        "customer.address.city")
      rejects("id", "nil", "missing required value (got nil)", tx.required, nil, "id")
    end)

    it("rejects a bad path as a programmer mistake", function()
      misuse("bad argument #2 to 'required'", tx.required, rec, nil)
      misuse("empty segment", tx.required, rec, "a.")
    end)
  end)

  describe("one_of", function()
    it("returns an allowed value", function()
      assert.are.equal("EU", tx.one_of("EU", { "EU", "US" }, "region"))
      assert.are.equal(2, tx.one_of(2, { 1, 2, 3 }, "tier"))
      assert.are.equal(2.0, tx.one_of(2.0, { 1, 2, 3 }, "tier"))
    end)

    it("rejects anything else, listing the allowed values", function()
      rejects("region", '"eu"', 'invalid value "eu" (expected one of "EU", "US")', tx.one_of, "eu", { "EU", "US" },
        "region")
      rejects("tier", '"2"', 'invalid value "2" (expected one of 1, 2, 3)', tx.one_of, "2", { 1, 2, 3 }, "tier")
      rejects("region", "null", "missing required value (got null)", tx.one_of, cjson.null, { "EU" }, "region")
      rejects("region", "nil", "missing required value (got nil)", tx.one_of, nil, { "EU" }, "region")
    end)

    it("shows at most ten allowed values", function()
      local list = {}
      for i = 1, 12 do
        list[i] = i
      end
      rejects("n", "13", "invalid value 13 (expected one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...)", tx.one_of, 13,
        list, "n")
    end)

    it("rejects a list that is not a table as a programmer mistake", function()
      misuse("list must be a table", tx.one_of, "EU", "EU", "region")
    end)
  end)

  describe("coalesce", function()
    it("returns the first argument that is neither nil nor null", function()
      assert.are.equal(3, tx.coalesce(nil, cjson.null, 3, 4))
      assert.are.equal(false, tx.coalesce(nil, false, 1))
      assert.are.equal(0, tx.coalesce(cjson.null, 0))
      assert.are.equal("", tx.coalesce("", "x"))
      assert.are.equal("x", tx.coalesce(nil, nil, nil, nil, "x"))
    end)

    it("returns nil when there is nothing", function()
      assert.is_nil(tx.coalesce())
      assert.is_nil(tx.coalesce(nil, cjson.null, nil))
      assert.are.equal(0, select("#", tx.coalesce(nil)) - 1)
    end)
  end)

  describe("without cjson", function()
    local saved_loaded, saved_preload, saved_module

    before_each(function()
      saved_loaded, saved_preload = package.loaded.cjson, package.preload.cjson
      saved_module = package.loaded["salesengine.transform"]
      package.loaded.cjson = nil
      package.preload.cjson = function() error("cjson is not installed here") end
      package.loaded["salesengine.transform"] = nil
    end)

    after_each(function()
      package.loaded.cjson, package.preload.cjson = saved_loaded, saved_preload
      package.loaded["salesengine.transform"] = saved_module
    end)

    it("still works, with nil as the only missing value", function()
      local fresh = require "salesengine.transform"
      assert.are_not.equal(tx, fresh)
      assert.are.equal("12.50", fresh.decimal("12.5", 2, "a"))
      assert.are.equal(io.stdout, fresh.coalesce(nil, io.stdout))
      assert.are.equal("<userdata>", fresh.render(io.stdout))
      local err = failure(fresh.required, {}, "a")
      assert.is_true(fresh.is_error(err))
      assert.are.equal("field 'a': missing required value (got nil)", tostring(err))
    end)
  end)
end)
