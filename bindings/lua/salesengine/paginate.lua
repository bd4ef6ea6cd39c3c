--- Pagination over salesengine.http: iterators that fetch and decode one
-- page at a time, so memory is bounded by a page, not by the dataset.
--
--   local paginate = require "salesengine.paginate"
--   for n, page, err, code in paginate.link_header{ url = base .. "/sales", items = "data" } do
--     if not page then return nil, err, code end
--     for _, row in ipairs(page.items) do ... end
--   end
--
-- Every iterator yields n (1-based page count) and a page table
-- {items = array, data = decoded document, response = http response, url = url}.
-- On a failure it yields n, nil, message, code once and then stops; a
-- pagination loop (a next URL or cursor seen before) is such a failure with
-- code "LOOP"; so is a page without the member a path option names (items,
-- next, cursor, has_more: code "INVALID", naming the path and the page's
-- members). Options other than the pagination ones below are request
-- options for http.get_json (headers, bearer, query, retry, timeout, ...);
-- an option neither knows raises at once.
-- With opts.items a path, each page's items are built as the pipeline reads
-- them (http's json = {records = items}); opts.fields (a list of member
-- names) decodes only those members of each item instead. opts.client, a
-- client of http.new, makes the requests from its defaults (default: the
-- module's functions). See docs/lua-api.md.
-- salesengine.http, required when first used (a client given in the
-- options, or a fake's, needs no engine: offline specs run under stock Lua)
local function http()
  return require "salesengine.http"
end
local cjson = require "cjson"
local option_check = require "salesengine.option_check"
local shape = require "salesengine.shape"
local dotted = require "salesengine.path"
local partition = require "salesengine.partition"

local M = {}

-- The pagination options of each style (the others are request options,
-- passed on to http.get_json), and all of them.
local COMMON = { "url", "items", "max_pages", "fields", "client" }
local NUMBERED = { "start", "has_more", "total", "count", "concurrency" }
local STYLE_KEYS = {
  link_header = {},
  next_url = { "next" },
  page_number = { "param", "size_param", "size", "short_is_last", table.unpack(NUMBERED) },
  offset = { "offset_param", "limit_param", "limit", table.unpack(NUMBERED) },
  cursor = { "cursor", "param" },
}
local PAGINATION_KEYS = option_check.set(COMMON)
local ALLOWED = {}
for style, keys in pairs(STYLE_KEYS) do
  ALLOWED[style] = option_check.set(COMMON, keys, option_check.HTTP.get_json)
  for _, k in ipairs(keys) do
    PAGINATION_KEYS[k] = true
  end
end

-- Raises, at the line that called the style function, unless opts is a
-- table of options that style knows (pagination or request options).
local function check_names(opts, style)
  if type(opts) ~= "table" then
    error(string.format("bad argument #1 to '%s' (table expected, got %s)", style,
      opts == nil and "no value" or type(opts)), 3)
  end
  option_check.check(opts, ALLOWED[style], style, 1, 3) -- 3: check_names, the style function, its caller
end

--- The value at a dotted JSON path ("meta.next_cursor") in doc, or nil
-- (JSON null counts as nil). path may also be a function(doc) -> value.
function M.get_path(doc, path)
  if type(path) == "function" then
    return path(doc)
  end
  return dotted.value(doc, path)
end

-- Raises the misuse of option key (nil: of the options as a whole) of the
-- style function fn ("paginate.cursor"), in Lua's form; level as error's,
-- counted from the function that calls misuse.
local function misuse(fn, key, what, level)
  option_check.bad_value(fn:match("[^.]+$"), 1, key, what, level + 1)
end

-- The requests of opts.client (a client of http.new, or a fake's), or of
-- the module: get_json(url, req) and fetch_all(list, opts).
local function requests_of(opts, fn)
  local c = opts.client
  if c == nil then
    return { get_json = function(url, req) return http().get_json(url, req) end,
      fetch_all = function(list, batch) return http().fetch_all(list, batch) end }
  end
  local ok, get_json = pcall(function() return c.get_json end)
  if not ok or type(get_json) ~= "function" or type(c.fetch_all) ~= "function" then
    misuse(fn, "client", "a client of http.new expected, got " .. type(c), 4)
  end
  return { get_json = function(url, req) return c:get_json(url, req) end,
    fetch_all = function(list, batch) return c:fetch_all(list, batch) end }
end

-- Splits opts into the request options and the requests to make them with
-- (see requests_of); checks the pagination settings they share.
local function split_options(opts, fn)
  if type(opts.url) ~= "string" then
    misuse(fn, "url", "string expected, got " .. option_check.typename(opts.url), 3)
  end
  local client = requests_of(opts, fn)
  local req = {}
  for k, v in pairs(opts) do
    if not PAGINATION_KEYS[k] then
      req[k] = v
    end
  end
  if opts.max_pages ~= nil and (math.type(opts.max_pages) ~= "integer" or opts.max_pages < 1) then
    misuse(fn, "max_pages", "a whole number from 1 expected, got " .. tostring(opts.max_pages), 3)
  end
  if opts.fields ~= nil then
    if type(opts.items) ~= "string" then
      misuse(fn, "fields", "needs option 'items' (the dotted path of the items array)", 3)
    end
    req.json = { records = opts.items, fields = opts.fields } -- checked by http
  elseif type(opts.items) == "string" then
    req.json = { records = opts.items } -- items built as the pipeline reads them
  end
  return req, client
end

-- Request options for one page: req's, with extra query parameters added.
local function with_query(req, extra)
  local out, query = {}, {}
  for k, v in pairs(req) do
    out[k] = v
  end
  for k, v in pairs(req.query or {}) do
    query[k] = v
  end
  for k, v in pairs(extra or {}) do
    query[k] = v
  end
  out.query = query
  return out
end

-- "paginate.cursor: page 2 (http://...): " — how failures name a page.
local function page_label(fn, n, url)
  return string.format("%s: page %d (%s): ", fn, n, http().redact_url(url))
end

-- The value at the JSON path `option` names (opts[option], a dotted path or a
-- function(doc)) in a page's document: the value (JSON null as nil), or nil,
-- message, "INVALID" when the path is not in the document at all (a misspelt
-- path must not read as "the last page").
local function page_value(page, opts, option, fn, n)
  local path = opts[option]
  if type(path) == "function" then
    return path(page.data)
  end
  local v, why = shape.lookup(page.data, path)
  if v == nil then
    return nil, page_label(fn, n, page.url) .. string.format("%s path '%s' not found: %s", option, path, why),
      "INVALID"
  end
  if v == cjson.null then
    return nil
  end
  return v
end

-- The items array of a decoded page: doc[items] (a dotted path), or doc
-- itself when it is an array and no path was given. JSON null = empty; a
-- path that is not in the document fails.
local function page_items(doc, items_path, fn, n, url)
  if items_path == nil and type(doc) == "table" and (doc[1] ~= nil or next(doc) == nil) then
    return doc
  end
  local path = items_path or "data"
  local items, why = shape.lookup(doc, path)
  if items == nil then
    return nil, page_label(fn, n, url) .. string.format("items path '%s' not found: %s", path, why)
  elseif items == cjson.null then
    return {}
  elseif type(items) ~= "table" then
    return nil, string.format("%s: the page's '%s' is a %s, not an array", fn, path, type(items))
  end
  return items
end

-- Builds a generic-for iterator from fetch(n) -> url, request options (nil
-- to stop) and after(n, page), called once a page is decoded, returning true
-- to go on, false to stop after this page, "empty" to stop without yielding
-- it, or nil, err, code: the page is yielded, the error comes next.
local function iterator(opts, fn, client, fetch, after)
  local n, stopped, pending = 0, false, nil
  return function()
    if pending then
      local p = pending
      pending, stopped = nil, true
      return p[1], nil, p[2], p[3]
    end
    if stopped or (opts.max_pages and n >= opts.max_pages) then
      stopped = true
      return nil
    end
    local url, req = fetch(n + 1)
    if url == nil then
      stopped = true
      return nil
    end
    n = n + 1
    local doc, resp, code = client.get_json(url, req)
    if doc == nil then
      stopped = true
      return n, nil, resp, code
    end
    local items, ierr = page_items(doc, opts.items, fn, n, resp.url or url)
    if not items then
      stopped = true
      return n, nil, ierr, "INVALID"
    end
    local page = { items = items, data = doc, response = resp, url = resp.url or url }
    local go_on, aerr, acode = after(n, page)
    if go_on == "empty" then
      stopped = true
      return nil
    elseif go_on == nil then
      pending = { n + 1, aerr, acode }
    elseif go_on == false then
      stopped = true
    end
    return n, page
  end
end

-- Remembers the URLs (or cursors) fetched; a repeat is a pagination loop.
local function loop_guard(what)
  local seen = {}
  local guard = {}
  function guard.mark(value, n)
    seen[value] = seen[value] or n
  end
  function guard.check(value, n)
    local before = seen[value]
    if not before then
      return true
    end
    if what == "URL" then
      return nil, string.format("pagination loop: page %d links to %s, already fetched as page %d", n,
        http().redact_url(value), before), "LOOP"
    end
    return nil, string.format("pagination loop: page %d returned a cursor already used for page %d", n,
      before), "LOOP"
  end
  return guard
end

-- Shared by link_header and next_url: follow a next URL found by find_next(page).
local function follow(opts, fn, find_next)
  local req, client = split_options(opts, fn)
  local later_req = with_query(req)
  later_req.query = nil -- the next URL carries its own query string
  local guard = loop_guard("URL")
  local next_url = opts.url
  return iterator(opts, fn, client, function(n)
    if next_url == nil then
      return nil
    end
    return next_url, n == 1 and req or later_req
  end, function(n, page)
    guard.mark(page.url, n)
    local ref, ferr, fcode = find_next(page, n)
    if ferr then
      return nil, ferr, fcode
    end
    if ref == nil or ref == "" then
      next_url = nil
      return false
    end
    if type(ref) ~= "string" then
      return nil, fn .. ": the next link is a " .. type(ref) .. ", not a URL", "INVALID"
    end
    local url, err, code = http().resolve_url(page.url, ref)
    if not url then
      return nil, err, code
    end
    local ok, lerr, lcode = guard.check(url, n)
    if not ok then
      return nil, lerr, lcode
    end
    guard.mark(url, n + 1)
    next_url = url
    return true
  end)
end

--- Follows `Link: <url>; rel="next"` headers until a page has none.
function M.link_header(opts)
  check_names(opts, "link_header")
  return follow(opts, "paginate.link_header", function(page)
    local link = page.response.headers["link"]
    return link and http().link_next(link)
  end)
end

--- Follows the next URL found at the JSON path opts.next (default "next")
-- until it is null or empty; a page without that member fails.
function M.next_url(opts)
  check_names(opts, "next_url")
  local fn = "paginate.next_url"
  local paths = { next = opts.next or "next" }
  return follow(opts, fn, function(page, n)
    return page_value(page, paths, "next", fn, n)
  end)
end

-- Stop rules shared by page_number and offset: empty page, a page shorter
-- than the size sent (page_number's short_is_last), has_more flag, known
-- total. Returns the iterator's after(n, page): false to stop after this
-- page; nil, message, code when the page has no has_more member.
local function stop_rules(opts, fn)
  local seen = 0
  return function(n, page)
    seen = seen + #page.items
    if #page.items == 0 then
      return "empty"
    end
    if opts.short_is_last and #page.items < opts.size then
      return false -- fewer items than asked for: the last page
    end
    if opts.has_more then
      local more, err, code = page_value(page, opts, "has_more", fn, n)
      if err then
        return nil, err, code
      elseif not more then
        return false
      end
    end
    if opts.total then
      local total = tonumber(M.get_path(page.data, opts.total))
      if total and seen >= total then
        return false
      end
    end
    return true
  end
end

-- Yields opts.count pages (at most opts.max_pages; under partition part only
-- its pages) fetched concurrently, in order: page n is opts.url with req's
-- query plus query_of(n).
local function concurrent(opts, fn, req, client, query_of, part)
  local list = {}
  for n = 1, math.min(opts.count, opts.max_pages or opts.count) do
    if partition.takes_page(part, n) then
      list[#list + 1] = with_query({ url = opts.url, query = req.query }, query_of(n))
    end
  end
  local batch = with_query(req)
  batch.query = nil
  batch.concurrency = opts.concurrency or 4
  batch.json = req.json or true
  local iter, _, _, closer = client.fetch_all(list, batch)
  local stopped = false
  return function()
    if stopped then
      return nil
    end
    local i, resp, err, code = iter()
    if i == nil then
      stopped = true
      return nil
    end
    if not resp then
      stopped = true
      closer:close()
      return i, nil, err, code
    end
    local items, ierr = page_items(resp.data, opts.items, fn, i, resp.url)
    if not items then
      stopped = true
      closer:close()
      return i, nil, ierr, "INVALID"
    end
    return i, { items = items, data = resp.data, response = resp, url = resp.url }
  end, nil, nil, closer
end

--- Page numbers: ?page=start, start+1, ... (opts.param, default "page";
-- opts.start, default 1; opts.size_param/opts.size send a page size). Stops
-- on an empty (or null) page, after a page shorter than opts.size with
-- opts.short_is_last, when opts.has_more's flag is false (a page
-- without it fails), or when opts.total's count of items has been seen. With opts.count (pages known
-- up front) pages are fetched concurrently (opts.concurrency, default 4).
function M.page_number(opts)
  check_names(opts, "page_number")
  local fn = "paginate.page_number"
  local req, client = split_options(opts, fn)
  local param, start = opts.param or "page", opts.start or 1
  if opts.short_is_last ~= nil and (opts.short_is_last ~= true or math.type(opts.size) ~= "integer"
      or opts.size < 1 or type(opts.size_param) ~= "string") then
    misuse(fn, "short_is_last", "true or absent, and needs 'size_param' and 'size' (a whole number from 1): a " ..
      "page with fewer items than 'size' is the last", 2)
  end
  local part = partition.for_pages()
  if part and opts.total then
    misuse(fn, "total", string.format("counts the items one process sees, so it cannot end a partitioned run " ..
      "(--partition %s): end the pages with 'size' (a short page is the last) or 'has_more'",
      partition.label(part)), 2)
  end
  local function page_query(n)
    local q = { [param] = start + n - 1 }
    if opts.size_param then
      q[opts.size_param] = opts.size
    end
    return q
  end
  if opts.count then
    return partition.mark(concurrent(opts, fn, req, client, page_query, part))
  end
  -- the k-th page this process fetches is page n of the whole sequence
  local function nth(k)
    return part and part.index + 1 + (k - 1) * part.count or k
  end
  local paged = { items = opts.items, max_pages = nil }
  return partition.mark(iterator(paged, fn, client, function(k)
    local n = nth(k)
    if opts.max_pages and n > opts.max_pages then
      return nil
    end
    return opts.url, with_query(req, page_query(n))
  end, stop_rules(opts, fn)))
end

--- Offset/limit: ?offset=0&limit=L, then offset += items received
-- (opts.offset_param/opts.limit_param, default "offset"/"limit"; opts.limit
-- default 100; opts.start default 0). Same stop rules as page_number; with
-- opts.count pages are fetched concurrently at offsets start + k*limit.
function M.offset(opts)
  check_names(opts, "offset")
  local fn = "paginate.offset"
  local req, client = split_options(opts, fn)
  local oparam, lparam = opts.offset_param or "offset", opts.limit_param or "limit"
  local limit = opts.limit or 100
  local offset = opts.start or 0
  if opts.count then
    return concurrent(opts, fn, req, client, function(n)
      return { [oparam] = offset + (n - 1) * limit, [lparam] = limit }
    end)
  end
  local rules = stop_rules(opts, fn)
  return iterator(opts, fn, client, function()
    return opts.url, with_query(req, { [oparam] = offset, [lparam] = limit })
  end, function(n, page)
    offset = offset + #page.items
    return rules(n, page)
  end)
end

--- Cursor: the first page without a cursor, then ?cursor=<value at the JSON
-- path opts.cursor> (opts.param, default "cursor") until it is null or
-- empty; a page without that member fails. A repeated cursor is a pagination loop.
function M.cursor(opts)
  check_names(opts, "cursor")
  local fn = "paginate.cursor"
  local req, client = split_options(opts, fn)
  if opts.cursor == nil then
    misuse(fn, "cursor", "the JSON path of the next cursor expected, got no value", 2)
  end
  local param = opts.param or "cursor"
  local guard = loop_guard("cursor")
  local cursor, done = nil, false
  return iterator(opts, fn, client, function()
    if done then
      return nil
    end
    return opts.url, with_query(req, cursor and { [param] = cursor } or nil)
  end, function(n, page)
    local nextc, cerr, ccode = page_value(page, opts, "cursor", fn, n)
    if cerr then
      return nil, cerr, ccode
    end
    if nextc == nil or nextc == "" then
      done = true
      return false
    end
    if type(nextc) ~= "string" and type(nextc) ~= "number" then
      return nil, fn .. ": the cursor is a " .. type(nextc), "INVALID"
    end
    local ok, err, code = guard.check(tostring(nextc), n)
    if not ok then
      return nil, err, code
    end
    guard.mark(tostring(nextc), n + 1)
    cursor = nextc
    return true
  end)
end

--- Runs one of the iterators above to the end and returns every item in a
-- single array, or nil, err, code. Memory grows with the dataset: prefer the
-- iterator for large pulls.
function M.collect(style, opts)
  local fn = M[style]
  if type(fn) ~= "function" or style == "collect" or style == "get_path" then
    option_check.bad_value("collect", 1, nil, "unknown style '" .. tostring(style) .. "'", 2)
  end
  local all = {}
  for _, page, err, code in fn(opts) do
    if not page then
      return nil, err, code
    end
    for _, item in ipairs(page.items) do
      all[#all + 1] = item
    end
  end
  return all
end

return M
