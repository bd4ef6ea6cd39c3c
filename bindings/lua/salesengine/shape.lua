--- salesengine.shape: what a decoded JSON document holds at a dotted path,
-- and, when the path is not there, what is there instead. salesengine.etl
-- and salesengine.paginate use it so that a path that does not fit the
-- response (a misspelt `items`, `next`, `cursor`, `has_more` or `records`)
-- fails naming the path and what the response has, instead of reading as an
-- empty page or the last one.
local cjson = require "cjson"

local M = {}

local MAX_MEMBERS = 12 -- member names listed in a message

--- How a message names the kind of a decoded JSON value: "null", "a string",
-- "a number", "a boolean", "an array", "an object" ("an empty object or array"
-- for {}, which cjson decodes from both).
function M.kind(v)
  if v == nil or v == cjson.null then
    return "null"
  elseif type(v) ~= "table" then
    return "a " .. type(v)
  elseif v[1] ~= nil then
    return "an array"
  elseif next(v) == nil then
    return "an empty object or array"
  end
  return "an object"
end

-- "it has: a, b, c" for an object's member names (sorted, at most MAX_MEMBERS).
local function members(t)
  if next(t) == nil then
    return "it is empty"
  elseif t[1] ~= nil then
    return "it is an array"
  end
  local names = {}
  for k in pairs(t) do
    names[#names + 1] = tostring(k)
  end
  table.sort(names)
  local more = #names > MAX_MEMBERS and string.format(", ... (%d in all)", #names) or ""
  return "it has: " .. table.concat(names, ", ", 1, math.min(#names, MAX_MEMBERS)) .. more
end

--- The value at the dotted path ("meta.next_cursor") in doc: a value
-- (cjson.null when the path ends at, or passes through, a JSON null), or nil
-- and what is there instead:
--   "the response has no member 'orders' (it has: data, next)"
--   "'meta' in the response is a string, not an object"
-- whole: how the message calls doc (default "the response").
function M.lookup(doc, path, whole)
  whole = whole or "the response"
  local v, walked = doc, nil
  for part in path:gmatch("[^.]+") do
    local here = walked and string.format("'%s' in %s", walked, whole) or whole
    if v == cjson.null then
      return cjson.null
    elseif type(v) ~= "table" then
      return nil, string.format("%s is %s, not an object", here, M.kind(v))
    end
    local inner = v[part]
    if inner == nil and tonumber(part) then -- a step of digits also finds an array item
      inner = v[tonumber(part)]
    end
    if inner == nil then
      return nil, string.format("%s has no member '%s' (%s)", here, part, members(v))
    end
    v, walked = inner, walked and walked .. "." .. part or part
  end
  return v
end

return M
