-- Specs for scripts/transform.lua, the sales transform: run from the repo root with
--   build/salesengine /usr/bin/busted tests/spec/sales_transform_spec.lua
--   busted --lua=lua5.4 tests/spec/sales_transform_spec.lua
package.path = "bindings/lua/?.lua;scripts/?.lua;" .. package.path

local sales = require "transform"
local tx = require "salesengine.transform"
local cjson = require "cjson"

-- A valid API record, with fields replaced by `changes` (cjson.null stands for a removed field).
local function record(changes)
  local rec = { id = 17, date = "2026-01-05T10:30:00+00:00", amount_usd = 19.99, region = "eu" }
  for k, v in pairs(changes or {}) do
    rec[k] = v ~= cjson.null and v or nil
  end
  return rec
end

-- The structured error raised by sales.transform(rec); fails the test when there is none.
local function rejection(rec)
  local ok, err = pcall(sales.transform, rec)
  assert.is_false(ok, "expected the record to be rejected")
  assert.is_true(tx.is_error(err), "expected a structured error, got: " .. tostring(err))
  return err
end

describe("scripts/transform.lua", function()
  describe("transform", function()
    it("maps a record to a fact_sales row", function()
      assert.are.same({
        sale_id = "17",
        sale_date = "2026-01-05T10:30:00+00:00",
        revenue = "19.99",
        region = "EU",
      }, sales.transform(record()))
    end)

    it("needs no list of the fields it reads (the engine learns them)", function()
      assert.is_nil(sales.fields)
    end)

    it("leaves the input record unchanged", function()
      local rec = record({ region = "  eu " })
      sales.transform(rec)
      assert.are.same(record({ region = "  eu " }), rec)
    end)

    it("turns integer and string ids into the same key", function()
      assert.are.equal("17", sales.transform(record({ id = 17 })).sale_id)
      assert.are.equal("17", sales.transform(record({ id = 17.0 })).sale_id) -- how cjson decodes 17
      assert.are.equal("17", sales.transform(record({ id = "17" })).sale_id)
      assert.are.equal("17", sales.transform(record({ id = " 17 " })).sale_id)
      assert.are.equal("A-17", sales.transform(record({ id = "A-17" })).sale_id)
      assert.are.equal("9007199254740993", sales.transform(record({ id = 9007199254740993 })).sale_id)
    end)

    it("normalises dates with and without an offset", function()
      local function date(d)
        return sales.transform(record({ date = d })).sale_date
      end
      assert.are.equal("2026-01-05T10:30:00+00:00", date("2026-01-05T10:30:00"))
      assert.are.equal("2026-01-05T10:30:00+00:00", date("2026-01-05T10:30:00Z"))
      assert.are.equal("2026-01-05T10:30:00-05:00", date("2026-01-05T10:30:00-0500"))
      assert.are.equal("2026-01-05T00:00:00+00:00", date("2026-01-05"))
      assert.are.equal("2024-02-29T23:59:59.250000+01:00", date("2024-02-29 23:59:59.25+01"))
    end)

    it("keeps revenue exact to the cent, from numbers and strings", function()
      local function revenue(a)
        return sales.transform(record({ amount_usd = a })).revenue
      end
      assert.are.equal("0.30", revenue(0.1 + 0.2))
      assert.are.equal("20.00", revenue(19.999))
      assert.are.equal("19.99", revenue("19.99"))
      assert.are.equal("12.50", revenue(" 12.5 "))
      assert.are.equal("-5.50", revenue(-5.5))
      assert.are.equal("-5.50", revenue("-5.5"))
      assert.are.equal("0.13", revenue("0.125"))
      assert.are.equal("-0.13", revenue("-0.125"))
      assert.are.equal("2.68", revenue(2.675))
      assert.are.equal("12345678901234.00", revenue(12345678901234))
      assert.are.equal("123456789012345678901234567890.99", revenue("123456789012345678901234567890.99"))
      assert.are.equal("1" .. string.rep("0", 300) .. ".00", revenue("1e300"))
      assert.are.equal("0.00", revenue(0))
    end)

    it("trims and upper-cases the region, keeping inner spaces", function()
      local function region(r)
        return sales.transform(record({ region = r })).region
      end
      assert.are.equal("EU-WEST", region("  eu-West\t"))
      assert.are.equal("NORTH  AMERICA", region(" north  America "))
      assert.are.equal("US", region("US"))
    end)

    it("rejects a bad id, naming the field and the value", function()
      local err = rejection(record({ id = cjson.null }))
      assert.are.equal("field 'id': missing required value (got nil)", tostring(err))
      err = rejection({ id = cjson.null, date = "2026-01-05", amount_usd = 1, region = "EU" })
      assert.are.equal("field 'id': missing required value (got null)", tostring(err))
      err = rejection(record({ id = "  " }))
      assert.are.equal([[field 'id': must not be empty (got "  ")]], tostring(err))
      err = rejection(record({ id = { 1 } }))
      assert.are.equal("field 'id': invalid text <table> (expected a string or a number, got a table)",
        tostring(err))
      assert.are.equal("<table>", err.value)
    end)

    it("rejects a bad date", function()
      local err = rejection(record({ date = "2026-13-45" }))
      assert.are.equal("date", err.field)
      assert.are.equal('"2026-13-45"', err.value)
      assert.are.equal([[field 'date': invalid ISO-8601 date-time "2026-13-45" (month 13 out of range)]],
        tostring(err))
      assert.are.equal([[field 'date': invalid ISO-8601 date-time "05/01/2026" (expected YYYY-MM-DD)]],
        tostring(rejection(record({ date = "05/01/2026" }))))
      assert.are.equal("field 'date': missing required value (got nil)",
        tostring(rejection(record({ date = cjson.null }))))
    end)

    it("rejects a bad amount", function()
      local err = rejection(record({ amount_usd = "12,5x" }))
      assert.are.equal("amount_usd", err.field)
      assert.are.equal('"12,5x"', err.value)
      assert.are.equal([[field 'amount_usd': invalid decimal "12,5x" (unexpected character "," at position 3)]],
        tostring(err))
      assert.are.equal([[field 'amount_usd': invalid decimal "NaN" (not a finite number)]],
        tostring(rejection(record({ amount_usd = "NaN" }))))
      assert.are.equal([[field 'amount_usd': invalid decimal "" (empty string)]],
        tostring(rejection(record({ amount_usd = "" }))))
      assert.are.equal("field 'amount_usd': missing required value (got nil)",
        tostring(rejection(record({ amount_usd = cjson.null }))))
    end)

    it("rejects a bad region", function()
      assert.are.equal("field 'region': invalid text 7 (expected a string, got a number)",
        tostring(rejection(record({ region = 7 }))))
      assert.are.equal("field 'region': missing required value (got nil)",
        tostring(rejection(record({ region = cjson.null }))))
    end)

    it("rejects a record that is not an object", function()
      local err = rejection("17")
      assert.is_nil(err.field)
      assert.are.equal([[record is not a JSON object (got "17")]], tostring(err))
    end)

    it("maps records as decoded from the API's JSON", function()
      local body = [[{"sales": [
        {"id": 1, "date": "2026-01-05T10:00:00+00:00", "amount_usd": 19.99, "region": " eu "},
        {"id": "A-2", "date": "2026-01-06", "amount_usd": "0.1", "region": "Us"},
        {"id": 3, "date": "2026-01-07T08:00:00", "amount_usd": 1234567.891, "region": "apac"}
      ]}]]
      assert.are.same({
        { sale_id = "1", sale_date = "2026-01-05T10:00:00+00:00", revenue = "19.99", region = "EU" },
        { sale_id = "A-2", sale_date = "2026-01-06T00:00:00+00:00", revenue = "0.10", region = "US" },
        { sale_id = "3", sale_date = "2026-01-07T08:00:00+00:00", revenue = "1234567.89", region = "APAC" },
      }, sales.transform_all(cjson.decode(body).sales))
      local err = rejection(cjson.decode([[{"id": 4, "date": "2026-01-05", "amount_usd": null, "region": "EU"}]]))
      assert.are.equal("field 'amount_usd': missing required value (got null)", tostring(err))
    end)
  end)

  describe("transform_all", function()
    it("maps every record in order, keeping duplicates for the upsert to resolve", function()
      local rows = sales.transform_all({
        record({ id = 1, amount_usd = "1.00" }),
        record({ id = 2, amount_usd = 2 }),
        record({ id = 1, amount_usd = "3.333" }),
      })
      assert.are.equal(3, #rows)
      assert.are.same({ "1", "2", "1" }, { rows[1].sale_id, rows[2].sale_id, rows[3].sale_id })
      assert.are.same({ "1.00", "2.00", "3.33" }, { rows[1].revenue, rows[2].revenue, rows[3].revenue })
    end)

    it("returns an empty array for no records", function()
      assert.are.same({}, sales.transform_all({}))
    end)

    it("stops at the first bad record, naming its position and id", function()
      local ok, err = pcall(sales.transform_all, {
        record({ id = 1 }),
        record({ id = "A-7", date = "2026-02-29" }),
        record({ id = 3, amount_usd = "bad" }),
      })
      assert.is_false(ok)
      assert.is_true(tx.is_error(err))
      assert.are.equal("date", err.field)
      assert.are.equal('"2026-02-29"', err.value)
      assert.are.equal([[record 2 (id "A-7"): field 'date': invalid ISO-8601 date-time "2026-02-29" ]]
        .. [[(day 29 out of range for 2026-02)]], tostring(err))
    end)

    it("names records without an id by position only", function()
      local ok, err = pcall(sales.transform_all, { record(), record({ id = cjson.null }) })
      assert.is_false(ok)
      assert.are.equal("record 2: field 'id': missing required value (got nil)", tostring(err))
      ok, err = pcall(sales.transform_all, { 5 })
      assert.is_false(ok)
      assert.are.equal("record 1: record is not a JSON object (got 5)", tostring(err))
    end)
  end)
end)
