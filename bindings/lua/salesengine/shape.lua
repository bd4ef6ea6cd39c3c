--- salesengine.shape: what a decoded JSON document holds at a dotted path,
-- and, when the path is not there, what is there instead. salesengine.etl
-- and salesengine.paginate use it so that a path that does not fit the
-- response (a misspelt `items`, `next`, `cursor`, `has_more` or `records`)
-- fails naming the path and what the response has, instead of reading as an
-- empty page or the last one.
local cjson = require "cjson"
local dotted = require "salesengine.path"

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

--- The value at the dotted path ("meta.next_cursor") in doc, by
-- salesengine.path's rule: a value (cjson.null when the path ends at, or
-- runs into, a JSON null), or nil and what is there instead:
--   "the response has no member 'orders' (it has: data, next)"
--   "'meta' in the response is a string, not an object"
-- whole: how the message calls doc (default "the response").
function M.lookup(doc, path, whole)
  local v, failed = dotted.walk(doc, path)
  if v ~= nil or failed == nil then
    return v
  end
  local names = dotted.names(path)
  local walked = table.concat(names, ".", 1, failed - 1)
  local at = failed > 1 and dotted.get(doc, walked) or doc
  local here = failed > 1 and string.format("'%s' in %s", walked, whole or "the response") or
    (whole or "the response")
  if type(at) ~= "table" then
    return nil, string.format("%s is %s, not an object", here, M.kind(at))
  end
  return nil, string.format("%s has no member '%s' (%s)", here, names[failed], members(at))
end

return M
