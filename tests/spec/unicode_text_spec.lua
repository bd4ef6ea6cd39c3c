-- tx.trim and tx.upper on non-ASCII text (issue 18, point 8): Unicode's
-- White_Space and full case mapping, as the seed's Python strip()/upper() do,
-- with the ASCII fast path unchanged. Run inside salesengine (ctest does).
package.path = "bindings/lua/?.lua;scripts/?.lua;" .. package.path

local tx = require "salesengine.transform"
local sales = require "transform"

-- Python's str.upper of each string in list (one per line, escaped as JSON).
local function python_upper(list)
  local cjson = require "cjson"
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(cjson.encode(list))
  f:close()
  local python3 = dofile("tests/lib/testenv.lua").python3
  local p = assert(io.popen(python3 .. " -c 'import json,sys; print(json.dumps([s.upper() for s in " ..
    "json.load(open(sys.argv[1], encoding=\"utf-8\"))]))' " .. path))
  local out = cjson.decode(p:read("a"))
  p:close()
  os.remove(path)
  return out
end

describe("Unicode text", function()
  it("gives the seed's result for the region of issue 18", function()
    assert.are.equal("ÉMEA STRASSE", tx.upper(tx.trim(" émea straße ", "region"), "region"))
    local row = sales.transform({ id = "U1", date = "2026-01-05T10:30:00Z", amount_usd = "1",
      region = "\u{a0}émea straße\u{3000}" })
    assert.are.equal("ÉMEA STRASSE", row.region)
  end)

  it("trims every White_Space code point and nothing else", function()
    for _, ws in ipairs({ "\u{a0}", "\u{85}", "\u{1680}", "\u{2000}", "\u{200a}", "\u{2028}", "\u{2029}",
      "\u{202f}", "\u{205f}", "\u{3000}", " ", "\t", "\n" }) do
      assert.are.equal("x y", tx.trim(ws .. ws .. "x y" .. ws), ("U+%04X"):format(utf8.codepoint(ws)))
    end
    -- not White_Space: zero width space, BOM, a letter; and bytes that are not UTF-8
    assert.are.equal("\u{200b}x\u{feff}", tx.trim(" \u{200b}x\u{feff} "))
    assert.are.equal("\xffx\xc2", tx.trim("\u{a0}\xffx\xc2 "))
  end)

  it("upper-cases with the full case mapping, as Python's str.upper", function()
    assert.are.equal("STRASSE", tx.upper("straße"))
    assert.are.equal("ʼN", tx.upper("ŉ"))
    assert.are.equal("FI", tx.upper("ﬁ"))
    assert.are.equal("ΆΣΙΑ", tx.upper("άσια"))
    assert.are.equal("A\xffB", tx.upper("a\xffb")) -- bytes that are not UTF-8 are kept
    local list = {}
    for cp = 0xA0, 0x52F do
      list[#list + 1] = utf8.char(cp) .. "a" .. utf8.char(cp)
    end
    local want = python_upper(list)
    for i, s in ipairs(list) do
      assert.are.equal(want[i], tx.upper(s), ("U+%04X"):format(utf8.codepoint(s)))
    end
  end)

  it("keeps the ASCII fast path: ASCII in, ASCII rules, the same string when nothing changes", function()
    assert.are.equal("EMEA 1-2", tx.upper("emea 1-2"))
    assert.are.equal("emea", tx.trim(" \t emea \n"))
    local s = "APAC"
    assert.are.equal(s, tx.upper(s))
  end)
end)
