--- A reference JSON decoder for differential tests of salesengine.json: plain Lua, written
-- straight from RFC 8259's grammar, with the number rules of docs/lua-api.md (an integer literal
-- within 64 bits is a Lua integer; a literal with a fraction or exponent is a float when its
-- double's shortest decimal is the literal's value; anything else is a string of its source
-- spelling) and the engine's choices: a \u escape of half a surrogate pair is refused, bytes that
-- are not UTF-8 inside strings are kept, null is the NULL light userdata (cjson.null).
--
--   local ref = dofile("tests/lib/json_reference.lua")
--   local value = ref.decode(text [, max_depth])  -- or nil, byte offset of the error, of its token
--   ref.number(literal)                           -- a number's value by the rules above
--   ref.token_end(text, at)                       -- where the token at byte `at` ends
local M = {}

local null = require("cjson").null

-- A decimal literal's value as (sign, digits without leading or trailing zeros, power of ten
-- of the first digit); zero has no digits.
local function value_of(lit)
  local sign, int, frac, exp = lit:match("^([+-]?)(%d*)%.?(%d*)[eE]?([+-]?%d*)$")
  local digits = (int .. frac):gsub("^0+", "")
  local lead = #(int .. frac) - #digits -- leading zeros dropped
  digits = digits:gsub("0+$", "")
  if digits == "" then
    return "", "", 0
  end
  return sign == "-" and "-" or "", digits, #int - lead - 1 + (tonumber(exp) or 0)
end

local function same_value(a, b)
  local sa, da, ea = value_of(a)
  local sb, db, eb = value_of(b)
  return da == db and (da == "" or (sa == sb and ea == eb))
end

-- The shortest "%.<p>e" text of d that reads back as d.
local function shortest(d)
  for p = 0, 16 do
    local s = string.format("%." .. p .. "e", d)
    if tonumber(s) == d then
      return s
    end
  end
  return string.format("%.16e", d)
end

--- The value of the JSON number literal lit (valid RFC 8259 syntax).
function M.number(lit)
  if not lit:find("[.eE]") then
    local i = math.tointeger(tonumber(lit))
    if i and (tostring(i) == lit or lit == "-0") then
      return i
    end
    return lit
  end
  local d = tonumber(lit)
  if d ~= d or d == math.huge or d == -math.huge then
    return lit
  end
  local _, digits = value_of(lit)
  if (d == 0 and digits ~= "") or not same_value(shortest(d), lit) then
    return lit
  end
  return d
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

-- Raised with the byte offset (0-based) where the text stops being JSON, and that of the start of
-- the token it is in (a string's opening quote; else the byte itself).
local function refuse(pos, token)
  error({ at = pos - 1, token = (token or pos) - 1 }, 0)
end

local function skip_space(s, pos)
  return s:find("[^ \t\n\r]", pos) or #s + 1
end

local function hex4(s, pos, start)
  local h = s:match("^%x%x%x%x", pos)
  if not h then
    refuse(pos, start)
  end
  return tonumber(h, 16)
end

local function decode_string(s, pos) -- pos: after the opening quote
  local out, start = {}, pos - 1
  while true do
    local c = s:sub(pos, pos)
    if c == "" or c:byte() < 0x20 then
      refuse(pos, start)
    elseif c == '"' then
      return table.concat(out), pos + 1
    elseif c ~= "\\" then
      local stop = s:find('["\\\0-\31]', pos) or #s + 1
      out[#out + 1] = s:sub(pos, stop - 1)
      pos = stop
    else
      local e = s:sub(pos + 1, pos + 1)
      if ESCAPES[e] then
        out[#out + 1] = ESCAPES[e]
        pos = pos + 2
      elseif e == "u" then
        local cp = hex4(s, pos + 2, start)
        pos = pos + 6
        if cp >= 0xDC00 and cp <= 0xDFFF then
          refuse(pos - 1, start) -- its last hex digit
        elseif cp >= 0xD800 and cp <= 0xDBFF then
          if s:sub(pos, pos + 1) ~= "\\u" then
            refuse(pos, start)
          end
          local low = hex4(s, pos + 2, start)
          if low < 0xDC00 or low > 0xDFFF then
            refuse(pos + 5, start) -- the last hex digit of what is not a low half
          end
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
          pos = pos + 6
        end
        out[#out + 1] = utf8.char(cp)
      else
        refuse(pos + 1, start)
      end
    end
  end
end

local decode_value

local function decode_container(s, pos, depth, max_depth, close)
  if depth > max_depth then
    refuse(pos)
  end
  local t, n = {}, 0
  pos = skip_space(s, pos + 1)
  if s:sub(pos, pos) == close then
    return t, pos + 1
  end
  while true do
    local key
    if close == "}" then
      if s:sub(pos, pos) ~= '"' then
        refuse(pos)
      end
      key, pos = decode_string(s, pos + 1)
      pos = skip_space(s, pos)
      if s:sub(pos, pos) ~= ":" then
        refuse(pos)
      end
      pos = skip_space(s, pos + 1)
    end
    local v
    v, pos = decode_value(s, pos, depth, max_depth)
    if key then
      t[key] = v
    else
      n = n + 1
      t[n] = v
    end
    pos = skip_space(s, pos)
    local c = s:sub(pos, pos)
    if c == close then
      return t, pos + 1
    elseif c ~= "," then
      refuse(pos)
    end
    pos = skip_space(s, pos + 1)
  end
end

function decode_value(s, pos, depth, max_depth)
  local c = s:sub(pos, pos)
  if c == "{" or c == "[" then
    return decode_container(s, pos, depth + 1, max_depth, c == "{" and "}" or "]")
  elseif c == '"' then
    return decode_string(s, pos + 1)
  end
  -- a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, the longest such prefix
  local num = s:match("^-?[1-9]%d*", pos) or s:match("^-?0", pos)
  if num then
    num = num .. (s:match("^%.%d+", pos + #num) or "")
    num = num .. (s:match("^[eE][+-]?%d+", pos + #num) or "")
    return M.number(num), pos + #num
  end
  for word, v in pairs({ ["true"] = true, ["false"] = false, null = null }) do
    if s:sub(pos, pos + #word - 1) == word then
      return v, pos + #word
    end
  end
  refuse(pos)
end

--- The offset after the token that starts at byte `at` of text (0-based): a string, a number or a
-- word; any other byte is a token of its own. yajl reports an error once it has read that token, so
-- the engine's offset for an error the reference finds at `at` in a token starting at `token` is
-- within at .. token_end(text, token) + 1.
function M.token_end(text, at)
  local c = text:sub(at + 1, at + 1)
  if c == '"' then
    local i = at + 2
    while i <= #text and text:sub(i, i) ~= '"' do
      i = i + (text:sub(i, i) == "\\" and 2 or 1)
    end
    return math.min(i, #text)
  elseif c:match("[%-%d]") then
    return at + #text:match("^%-?[%d.eE+-]*", at + 1)
  elseif c:match("%a") then
    return at + #text:match("^%a+", at + 1)
  end
  return at + 1
end

--- Decodes text: its value, or nil, the byte offset (0-based) where it is refused and the offset
-- where the token holding that byte starts. The byte is the first that cannot be JSON there, the
-- last hex digit of a lone low surrogate's escape, the byte after the escape of a lone high one,
-- the text's length when it ends too soon.
-- max_depth: containers may nest that deep (default 1000).
function M.decode(text, max_depth)
  local ok, v = pcall(function()
    local value, pos = decode_value(text, skip_space(text, 1), 0, max_depth or 1000)
    pos = skip_space(text, pos)
    if pos <= #text then
      refuse(pos)
    end
    return value
  end)
  if ok then
    return v
  elseif type(v) == "table" then
    return nil, v.at, v.token
  end
  error(v, 0)
end

return M
