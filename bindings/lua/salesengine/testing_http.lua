--- salesengine.testing_http: a canned-response stand-in for salesengine.http,
-- for offline tests (used through salesengine.testing.fake_http).
--
-- routes maps a full URL (query string included, parameters from opts.query
-- appended in name order) to a response, a list of responses served in turn
-- (the last one repeats: a fault sequence), or a function(request) ->
-- response. A response is {status = 200, headers = {...}, body = "..."} or
-- {json = value} (encoded for you with cjson.encode, which writes numbers with
-- 14 significant digits: give a large id in `body`), or a transport failure
-- {error = "message", code = "TIMEOUT"}. Retries follow the real rules
-- (transport errors, 408, 425, 429, 5xx) up to retry.attempts (default 3)
-- without sleeping. An unknown URL answers 404. Bodies are decoded as the real
-- module decodes them (salesengine.json) inside salesengine, with cjson.decode
-- under stock Lua. fake.new(defaults) makes a client, as http.new does: its
-- methods (client:get(url), ...) start from defaults and share the fake's
-- routes and calls.
local cjson = require "cjson"
local option_check = require "salesengine.option_check"
local dotted = require "salesengine.path"

local has_json, sejson = pcall(require, "salesengine.json")
local decode = has_json and sejson.decode or cjson.decode

-- The failure of get_json for a body decode refused: the real message inside salesengine.
local function json_failure(url, err)
  err = tostring(err)
  return string.format("GET %s: %s", url, err:find("^invalid JSON") and err or "invalid JSON: " .. err)
end

local M = {}

local RETRYABLE = { [408] = true, [425] = true, [429] = true, [500] = true, [502] = true, [503] = true,
  [504] = true }

local Fake = {}
Fake.__index = Fake

--- A fake http module over routes. Field for assertions: calls (list of
-- {method, url}: the requests of the module's functions and of its clients).
function M.new(routes)
  local fake = setmetatable({ routes = routes or {}, served = {}, calls = {}, defaults = {} }, Fake)
  -- module-style functions (http.get(url) rather than fake:get(url))
  for _, name in ipairs({ "request", "get", "get_json", "fetch_all", "records" }) do
    local method = Fake[name]
    fake[name] = function(...) return method(fake, ...) end
  end
  fake.new = function(defaults) return Fake.client(fake, defaults) end
  fake.resolve_url, fake.link_next, fake.redact_url = Fake.resolve_url, Fake.link_next, Fake.redact_url
  return fake
end

-- A copy of table t, one level deep.
local function copy(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  return out
end

-- opts over defaults, merged as the real module merges them: headers and
-- query by name (false removes one), retry by field (false: no retries),
-- other options replace.
local function merged(defaults, opts)
  local out = copy(defaults)
  for k, v in pairs(opts) do
    if (k == "headers" or k == "query") and type(v) == "table" then
      local map = copy(type(out[k]) == "table" and out[k] or {})
      for name, value in pairs(v) do
        map[name] = value ~= false and value or nil
      end
      out[k] = map
    elseif k == "retry" and type(v) == "table" and type(out.retry) == "table" then
      local retry = copy(out.retry)
      for field, value in pairs(v) do
        retry[field] = value
      end
      out.retry = retry
    else
      out[k] = v
    end
  end
  return out
end

--- http.new([defaults]): a client whose requests start from defaults,
-- sharing the fake's routes and calls.
function Fake:client(defaults)
  if defaults ~= nil and type(defaults) ~= "table" then
    error(string.format("bad argument #1 to 'new' (table expected, got %s)", type(defaults)), 3)
  end
  option_check.check(defaults or {}, option_check.HTTP.defaults, "new", 1, 3)
  return setmetatable({ routes = self.routes, served = self.served, calls = self.calls,
    defaults = merged({}, defaults or {}) }, Fake)
end

--- client:close() (also <close>): later requests raise.
function Fake:close()
  self.closed = true
end
Fake.__close = Fake.close

-- The options of a request of self: opts over self's defaults. Raises for a closed client.
local function request_options(self, opts)
  if self.closed then
    error("attempt to use a closed HTTP client", 3)
  end
  return merged(self.defaults, opts or {})
end

--- Number of requests made to url.
function Fake:count(url)
  local n = 0
  for _, c in ipairs(self.calls) do
    if c.url == url then
      n = n + 1
    end
  end
  return n
end

local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- The URL with opts.query appended (names sorted).
local function full_url(url, query)
  if not query or next(query) == nil then
    return url
  end
  local names = {}
  for k in pairs(query) do
    names[#names + 1] = k
  end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do
    parts[i] = escape(k) .. "=" .. escape(query[k])
  end
  return url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
end

-- The next canned response for req.
function Fake:respond(req)
  local route = self.routes[req.url]
  if type(route) == "function" then
    return route(req)
  elseif route == nil then
    return { status = 404, body = "no route for " .. req.url }
  elseif route[1] ~= nil then
    local n = (self.served[req.url] or 0) + 1
    self.served[req.url] = n
    return route[math.min(n, #route)]
  end
  return route
end

-- Performs req with retries; returns like http.request.
function Fake:perform(req)
  local attempts = req.retry == false and 1 or (req.retry or {}).attempts or 3
  local last
  for attempt = 1, attempts do
    self.calls[#self.calls + 1] = { method = req.method, url = req.url }
    local r = self:respond(req)
    local headers = {}
    for name, value in pairs(r.headers or {}) do
      headers[name:lower()] = value -- as the real module: header names in lower case
    end
    local resp = { status = r.status or (r.error and 0) or 200, reason = "", headers = headers,
      body = r.body or (r.json ~= nil and cjson.encode(r.json)) or "", url = req.url, attempts = attempt }
    if r.error then
      last = { r.error, r.code or "CONNECT" }
    elseif resp.status >= 400 then
      last = { "HTTP " .. resp.status, "HTTP_" .. resp.status, resp }
      if not RETRYABLE[resp.status] then
        return nil, string.format("%s %s: HTTP %d", req.method, req.url, resp.status), last[2], resp
      end
    else
      return resp
    end
  end
  return nil, string.format("%s %s failed after %d attempts: %s", req.method, req.url, attempts, last[1]),
    last[2], last[3]
end

--- http.request{method, url, query, headers, body, retry, ...}
function Fake:request(opts)
  assert(type(opts) == "table" and type(opts.url) == "string", "http.request: 'url' must be a string")
  opts = request_options(self, opts)
  return self:perform({ method = opts.method or "GET", url = full_url(opts.url, opts.query), retry = opts.retry,
    headers = opts.headers, body = opts.body })
end

--- http.get(url[, opts])
function Fake:get(url, opts)
  assert(type(url) == "string", "http.get: url must be a string")
  opts = request_options(self, opts)
  return self:perform({ method = "GET", url = full_url(url, opts.query), retry = opts.retry, headers = opts.headers })
end

--- http.get_json(url[, opts]) -> value, resp | nil, message, code[, resp]
function Fake:get_json(url, opts)
  local resp, err, code, failed = Fake.get(self, url, opts)
  if not resp then
    return nil, err, code, failed
  end
  local ok, value = pcall(decode, resp.body)
  if not ok then
    return nil, json_failure(resp.url, value), "JSON", resp
  end
  return value, resp
end

--- http.records(url[, opts]) -> source: the records array at opts.records
-- ("" or nil: the document) handed out in lists of opts.batch (default
-- 10,000), then nil; a failure as nil, message, code. The whole body is
-- decoded at once (the real module streams it).
function Fake:records(url, opts)
  assert(type(url) == "string", "http.records: url must be a string")
  opts = opts or {}
  local path, size = opts.records or "", opts.batch or 10000
  local list, next_at
  return function()
    if list == nil then
      local doc, err, code = Fake.get_json(self, url, opts)
      if doc == nil then
        list = {}
        return nil, err, code
      end
      if path ~= "" then
        doc = dotted.value(doc, path)
      end
      if type(doc) ~= "table" or (next(doc) ~= nil and doc[1] == nil) then
        list = {}
        return nil, string.format("GET %s failed: the response has no records array '%s'", url, path), "SHAPE"
      end
      list, next_at = doc, 1
    end
    if next_at == nil or next_at > #list then
      return nil
    end
    local batch = table.move(list, next_at, math.min(next_at + size - 1, #list), 1, {})
    next_at = next_at + size
    return batch
  end
end

--- http.fetch_all(list[, opts]): for i, resp in fetch_all(...) (resp.data decoded when opts.json).
-- Returns the iterator, nil, nil and a closer (like the real one's batch).
function Fake:fetch_all(list, opts)
  opts = opts or {}
  local i = 0
  local function stop() i = #list end
  local closer = setmetatable({ close = stop }, { __close = stop }) -- a to-be-closed value, like the real batch
  return function()
    i = i + 1
    local item = list[i]
    if item == nil then
      return nil
    end
    local req = type(item) == "table" and item or { url = item }
    local resp, err, code, failed = Fake.request(self, { url = req.url, query = req.query, retry = opts.retry })
    if not resp then
      return i, nil, err, code, failed
    end
    if opts.json then
      local ok, value = pcall(decode, resp.body)
      if not ok then
        return i, nil, json_failure(resp.url, value), "JSON", resp
      end
      resp.data = value
    end
    return i, resp
  end, nil, nil, closer
end

--- http.resolve_url(base, ref): ref made absolute against base.
function Fake.resolve_url(base, ref)
  if ref:match("^%a[%w+.-]*://") then
    return ref
  elseif ref:sub(1, 1) == "/" then
    return base:match("^(%a[%w+.-]*://[^/]*)") .. ref
  elseif ref:sub(1, 1) == "?" then
    return base:gsub("%?.*$", "") .. ref
  end
  return base:gsub("[?#].*$", ""):gsub("[^/]*$", "") .. ref
end

--- http.link_next(value of a Link header): the rel="next" URL, or nil.
function Fake.link_next(link)
  for part in link:gmatch("[^,]+") do
    local url, params = part:match("^%s*<([^>]*)>(.*)$")
    if url and params:match(';%s*rel%s*=%s*"?[^";]*%f[%w]next%f[^%w]') then
      return url
    end
  end
  return nil
end

--- http.redact_url(url): unchanged (fakes hold no secrets).
function Fake.redact_url(url)
  return url
end

return M
