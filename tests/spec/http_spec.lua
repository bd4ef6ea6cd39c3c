-- salesengine.http and salesengine.paginate against the fault-injecting
-- fixture API (tests/fixtures/api_server.py): retries with their attempt
-- counts, limits, secrets, pagination styles and concurrent fetching.
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local http = require "salesengine.http"
local paginate = require "salesengine.paginate"
local cjson = require "cjson"

-- Wall-clock seconds with sub-second precision (same clock as the fixture's log).
local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

local function ids(items)
  local out = {}
  for i, item in ipairs(items) do
    out[i] = item.id
  end
  return out
end

local function range(a, b)
  local out = {}
  for i = a, b do
    out[#out + 1] = i
  end
  return out
end

describe("salesengine.http", function()
  local api, root
  -- Fast retries for the suite (the policy's timing has its own C unit
  -- tests); the misuse cases use the module's functions, its default client.
  local client = http.new({ retry = { base_delay = 0.02, max_delay = 0.5 } })
  local sales = { sales = { { id = 1, amount_usd = "12.50" }, { id = 2, amount_usd = 3 } } }

  setup(function()
    root = testenv.tmpdir()
    testenv.write_file(root .. "/sales.json", cjson.encode(sales))
    api = api_fixture.start({ root = root })
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(root)
  end)

  before_each(function()
    api.reset()
  end)

  describe("requests", function()
    it("gets a static file with status, lower-cased headers, body and attempt count", function()
      local resp, err = client:get(api.url .. "/sales.json")
      assert.is_nil(err)
      assert.are.equal(200, resp.status)
      assert.are.equal("OK", resp.reason)
      assert.are.equal("application/json", resp.headers["content-type"])
      assert.are.same(sales, cjson.decode(resp.body))
      assert.are.equal(api.url .. "/sales.json", resp.url)
      assert.are.equal(1, resp.attempts)
    end)

    it("decodes JSON with get_json and asks for it with an Accept header", function()
      local data, resp = client:get_json(api.url .. "/sales.json")
      assert.are.same(sales, data)
      assert.are.equal(200, resp.status)
      assert.are.equal("application/json", api.log()[1].headers["accept"])
    end)

    it("decodes only the listed fields of each record with the json option", function()
      local opts = { json = { records = "sales", fields = { "id" } } }
      local data = assert(client:get_json(api.url .. "/sales.json", opts))
      local fetched
      for _, resp in client:fetch_all({ api.url .. "/sales.json" }, opts) do
        fetched = resp.data
      end
      for _, doc in ipairs({ data, fetched }) do
        assert.are.equal(2, #doc.sales)
        assert.are.equal(2, doc.sales[2].id)
        assert.is_nil(rawget(doc.sales[1], "amount_usd"))
        assert.has_error(function()
          return doc.sales[1].amount_usd
        end, "record field 'amount_usd' is not decoded: the source's fields (id) do not list it")
      end
      assert.has_error(function()
        client:get_json(api.url .. "/sales.json", { json = true })
      end, "bad argument #2 to 'get_json' (option 'json': a table of decode options expected, got boolean)")
      assert.has_error(function()
        client:get_json(api.url .. "/sales.json", { json = { fields = { "id" }, path = "sales" } })
      end, "bad argument #2 to 'get_json' (unknown option 'json.path')")
      -- without fields, the records are built as they are read: the same values
      for _, resp in client:fetch_all({ api.url .. "/sales.json" }, { json = { records = "sales" } }) do
        assert.are.same({ 1, "12.50", 2, 3 }, { resp.data.sales[1].id, resp.data.sales[1].amount_usd,
          resp.data.sales[2].id, resp.data.sales[2].amount_usd })
      end
      assert.has_error(function()
        client:fetch_all({ api.url .. "/sales.json" }, { json = { records = "sales", reader = {} } })
      end, "bad argument #2 to 'fetch_all' (option 'json.reader': a reader made by json.reader() expected)")
    end)

    it("lets a non-string error raised during decoding (an interruption) go up unchanged", function()
      local stop = setmetatable({ exit_code = 130 }, { __tostring = function() return "interrupted" end })
      debug.sethook(function()
        if debug.getinfo(2, "f").func == require("salesengine.json").decode then
          debug.sethook()
          error(stop)
        end
      end, "c")
      local ok, err = pcall(http.get_json, api.url .. "/sales.json")
      debug.sethook()
      assert.is_false(ok)
      assert.are.equal(stop, err)
    end)

    it("reuses one connection for consecutive requests (keep-alive)", function()
      for _ = 1, 3 do
        assert.is_table(client:get(api.url .. "/sales.json"))
      end
      local log = api.log()
      assert.are.equal(3, #log)
      assert.are.equal(log[1].client_port, log[2].client_port)
      assert.are.equal(log[1].client_port, log[3].client_port)
    end)

    it("escapes query parameters and sends headers, bearer tokens and bodies", function()
      local resp = assert(client:request({
        method = "post",
        url = api.url .. "/_echo?fixed=1",
        query = { q = "a b&c=d/é", n = 5, flag = true, tags = { "x", "y" } },
        headers = { ["X-Trace"] = "t-1" },
        bearer = "tok-123",
        body = '{"k":1}',
      }))
      local echo = cjson.decode(resp.body)
      assert.are.equal("POST", echo.method)
      assert.are.same({ "1" }, echo.params.fixed)
      assert.are.same({ "a b&c=d/é" }, echo.params.q)
      assert.are.same({ "5" }, echo.params.n)
      assert.are.same({ "true" }, echo.params.flag)
      assert.are.same({ "x", "y" }, echo.params.tags)
      assert.are.equal("t-1", echo.headers["x-trace"])
      assert.are.equal("Bearer tok-123", echo.headers["authorization"])
      assert.are.equal('{"k":1}', echo.body)
      local basic = cjson.decode(assert(client:get(api.url .. "/_echo", { basic = { "ann", "pw" } })).body)
      assert.are.equal("Basic YW5uOnB3", basic.headers["authorization"])
    end)

    it("applies a client's defaults, copied when it is made, which calls can override", function()
      local defaults = { headers = { ["X-Team"] = "sales", Accept = "text/plain" }, query = { region = "eu" } }
      local team = http.new(defaults)
      defaults.headers["X-Team"] = "changed later" -- the client keeps what it was given
      local echo = cjson.decode(assert(team:get(api.url .. "/_echo", { headers = { accept = "x/y" } })).body)
      assert.are.equal("sales", echo.headers["x-team"])
      assert.are.equal("x/y", echo.headers["accept"])
      assert.matches("region=eu", echo.query)
      local data = assert(team:get_json(api.url .. "/_echo"))
      assert.are.equal("sales", data.headers["x-team"])
      -- Another client and the module's functions do not see them; nothing is module-wide.
      for _, get in ipairs({ function(url) return http.get(url) end, function(url) return client:get(url) end }) do
        echo = cjson.decode(assert(get(api.url .. "/_echo")).body)
        assert.is_nil(echo.headers["x-team"])
        assert.is_nil(echo.query:find("region", 1, true))
      end
      assert.is_nil(http.set_defaults)
      assert.is_nil(http.reset_defaults)
    end)

    it("closes a client with close or <close>; a closed client raises", function()
      local c = http.new()
      assert.are.equal(200, assert(c:get(api.url .. "/sales.json")).status)
      c:close()
      c:close() -- closing twice is harmless
      for _, call in ipairs({ function() return c:get(api.url .. "/sales.json") end,
        function() return c:get_json(api.url .. "/sales.json") end,
        function() return c:request({ url = api.url .. "/sales.json" }) end,
        function() return c:fetch_all({ api.url .. "/sales.json" }) end,
        function() return c:records(api.url .. "/sales.json") end }) do
        assert.has_error(call, "attempt to use a closed HTTP client")
      end
      local kept
      do
        local scoped <close> = http.new()
        kept = scoped
        assert.are.equal(200, assert(scoped:get(api.url .. "/sales.json")).status)
      end
      assert.has_error(function() return kept:get(api.url .. "/sales.json") end,
        "attempt to use a closed HTTP client")
      -- the module's own client stays open
      assert.are.equal(200, assert(http.get(api.url .. "/sales.json")).status)
    end)

    it("streams records through a client's defaults", function()
      local c = http.new({ query = { status = 503 }, retry = { attempts = 2, base_delay = 0.01 } })
      local next_batch = c:records(api.url .. "/sales.json", { records = "sales" })
      local batch, err, code = next_batch()
      assert.is_nil(batch)
      assert.are.equal("HTTP_503", code, err)
      assert.matches("after 2 attempts", err)
      local all = {}
      for _, record in ipairs(assert(client:records(api.url .. "/sales.json", { records = "sales" })())) do
        all[#all + 1] = record.id
      end
      assert.are.same({ 1, 2 }, all)
    end)

    it("follows redirects up to max_redirects", function()
      local resp = assert(client:get(api.url .. "/_redirect", { query = { to = "/sales.json" } }))
      assert.are.equal(200, resp.status)
      assert.are.equal(api.url .. "/sales.json", resp.url)
      resp = assert(client:get(api.url .. "/_redirect", { query = { to = "/sales.json" }, max_redirects = 0 }))
      assert.are.equal(302, resp.status)
      local target = "/_redirect?to=/sales.json"
      local _, err, code = client:get(api.url .. "/_redirect", { query = { to = target }, max_redirects = 1 })
      assert.are.equal("TOO_MANY_REDIRECTS", code)
      assert.matches("too many redirects", err)
    end)

    it("decodes gzip bodies transparently", function()
      local data = assert(client:get_json(api.url .. "/sales.json?gzip=1"))
      assert.are.same(sales, data)
      assert.matches("gzip", api.log()[1].headers["accept-encoding"])
    end)
  end)

  describe("retries", function()
    it("retries 503 for the first k requests, then succeeds", function()
      local data, resp = client:get_json(api.url .. "/sales.json?fail=2")
      assert.are.same(sales, data)
      assert.are.equal(3, resp.attempts)
      assert.are.equal(3, api.count("/sales.json"))
    end)

    it("gives up after the last attempt naming the URL, the attempts and the cause", function()
      local url = api.url .. "/sales.json?status=503"
      local data, err, code, resp = client:get_json(url)
      assert.is_nil(data)
      assert.are.equal("GET " .. url .. " failed after 3 attempts: HTTP 503 Service Unavailable", err)
      assert.are.equal("HTTP_503", code)
      assert.are.equal(503, resp.status)
      assert.are.equal(3, api.count("/sales.json"))
      local _, err5 = client:get(url, { retry = { attempts = 5 } })
      assert.matches("failed after 5 attempts", err5)
      assert.are.equal(8, api.count("/sales.json"))
    end)

    it("retries 408, 425, 429, 500, 502 and 504 too", function()
      for _, status in ipairs({ 408, 425, 429, 500, 502, 504 }) do
        local resp = client:get(api.url .. "/sales.json?fault=status&times=1&code=" .. status)
        assert.are.equal(2, resp.attempts)
      end
    end)

    it("waits at least Retry-After seconds on 429", function()
      local resp = assert(client:get(api.url .. "/sales.json?status=429&retry_after=1&times=1",
        { retry = { max_delay = 5 } }))
      assert.are.equal(2, resp.attempts)
      local log = api.log()
      assert.are.equal(2, #log)
      assert.is_true(log[2].time - log[1].time >= 1.0, "waited " .. (log[2].time - log[1].time))
    end)

    it("honours Retry-After as an HTTP-date on 503", function()
      local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
      local resp = assert(client:get(api.url .. "/sales.json", {
        query = { status = 503, retry_after = when, times = 1 },
        retry = { max_delay = 5 },
      }))
      assert.are.equal(2, resp.attempts)
      local log = api.log()
      assert.is_true(log[2].time - log[1].time >= 1.0, "waited " .. (log[2].time - log[1].time))
    end)

    it("caps Retry-After by the policy's max_delay", function()
      local t0 = now()
      local resp = assert(client:get(api.url .. "/sales.json?status=429&retry_after=3600&times=1",
        { retry = { max_delay = 0.2 } }))
      assert.are.equal(2, resp.attempts)
      assert.is_true(now() - t0 < 30)
    end)

    it("retries a body cut off mid-transfer and fails with PARTIAL when it keeps happening", function()
      local data, resp = client:get_json(api.url .. "/pages/page?total=200&size=200&fault=truncate&times=1")
      assert.are.equal(2, resp.attempts)
      assert.are.same(range(1, 200), ids(data.data))
      local _, err, code = client:get(api.url .. "/sales.json?fault=truncate")
      assert.are.equal("PARTIAL", code)
      assert.matches("failed after 3 attempts: transfer cut short", err)
      assert.are.equal(3, api.count("/sales.json"))
    end)

    it("retries a connection reset mid-body", function()
      local resp = assert(client:get(api.url .. "/sales.json?fault=reset_body&times=1"))
      assert.are.equal(2, resp.attempts)
      assert.are.equal(2, api.count("/sales.json"))
      local _, err, code = client:get(api.url .. "/sales.json?fault=reset_body", { retry = { attempts = 2 } })
      assert.are.equal("RECV", code)
      assert.matches("failed after 2 attempts", err)
    end)

    it("times out a stalled server, retries, and fails with TIMEOUT", function()
      local t0 = now()
      local _, err, code = client:get(api.url .. "/sales.json?fault=stall&seconds=5",
        { timeout = 0.5, retry = { attempts = 2 } })
      assert.are.equal("TIMEOUT", code)
      assert.matches("failed after 2 attempts: timed out after 0%.5 s", err)
      assert.is_true(now() - t0 < 4.5, "the timeout was not enforced")
      assert.are.equal(2, api.count("/sales.json"))
      local resp = assert(client:get(api.url .. "/sales.json?fault=stall&seconds=3&times=1", { timeout = 0.5 }))
      assert.are.equal(2, resp.attempts)
    end)

    it("fails at once on a 404 with the status and an excerpt of the body", function()
      local url = api.url .. "/missing.json"
      local data, err, code, resp = client:get_json(url)
      assert.is_nil(data)
      assert.are.equal("HTTP_404", code)
      assert.are.equal('GET ' .. url .. ' failed: HTTP 404 Not Found: {"error": "not found", "path": "/missing.json"}',
        err)
      assert.are.equal(404, resp.status)
      assert.are.equal(1, api.count("/missing.json"))
    end)

    it("fails with CONNECT when nothing listens, after the policy's attempts", function()
      local port = testenv.free_port()
      local _, err, code = client:get("http://127.0.0.1:" .. port .. "/x", { retry = { attempts = 2 } })
      assert.are.equal("CONNECT", code)
      assert.matches("failed after 2 attempts: connection failed", err)
    end)

    it("fails with DNS for a host that does not resolve, and the client keeps working", function()
      local _, err, code = client:get("http://no-such-host.invalid/x",
        { connect_timeout = 3, retry = { attempts = 2 } })
      assert.are.equal("DNS", code)
      assert.matches("failed after 2 attempts: DNS lookup failed", err)
      assert.are.equal(200, assert(client:get(api.url .. "/sales.json")).status)
    end)

    it("logs each retry at warning level with attempt n/N, reason and wait", function()
      local dir = testenv.tmpdir()
      local script = dir .. "/retry.lua"
      testenv.write_file(script, [[
        local http = require "salesengine.http"
        local resp = assert(http.get(..., { retry = { base_delay = 0.01 } }))
        print(resp.attempts)
      ]])
      local r = testenv.salesengine({ script, api.url .. "/sales.json?fail=2" })
      testenv.rm_rf(dir)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("3\n", r.stdout)
      local lines = {}
      for line in r.stderr:gmatch("[^\n]+") do
        if line:find("retrying", 1, true) then
          lines[#lines + 1] = line
        end
      end
      assert.are.equal(2, #lines)
      assert.matches("level=warn", lines[1])
      assert.matches("attempt=1/3", lines[1])
      assert.matches('reason="HTTP 503 Service Unavailable"', lines[1])
      assert.matches("wait=%d+%.%d+s", lines[1])
      assert.matches("attempt=2/3", lines[2])
    end)
  end)

  describe("limits and bad data", function()
    it("rejects a body larger than max_size without retrying", function()
      local _, err, code = client:get(api.url .. "/_bytes?size=2000000", { max_size = 1000 })
      assert.are.equal("TOO_LARGE", code)
      assert.matches("exceeds the limit of 1000 bytes", err)
      local _, err2, code2 = client:get(api.url .. "/_bytes?size=2000000&chunked=1", { max_size = 1000 })
      assert.are.equal("TOO_LARGE", code2)
      assert.matches("exceeds the limit of 1000 bytes", err2)
      assert.are.equal(2, api.count("/_bytes"))
      local ok = assert(client:get(api.url .. "/_bytes?size=1000", { max_size = 1000 }))
      assert.are.equal(1000, #ok.body)
    end)

    it("reports invalid JSON with the URL and the decoder's position, without retrying", function()
      local url = api.url .. "/x.json?fault=invalid_json&api_key=k-SECRET-1"
      local data, err, code = client:get_json(url)
      assert.is_nil(data)
      assert.are.equal("JSON", code)
      assert.are.equal("GET " .. api.url .. "/x.json?fault=invalid_json&api_key=***: invalid JSON at byte 17: "
        .. "parse error: unallowed token at this point in JSON text", err)
      assert.are.equal(1, api.count("/x.json"))
    end)
  end)

  describe("misuse", function()
    it("raises on wrong argument types and unknown or invalid options", function()
      assert.has_error(function() http.get(42) end, "bad argument #1 to 'get' (string expected, got number)")
      assert.has_error(function() http.request("http://x") end)
      assert.has_error(function() http.request({ url = 1 }) end,
        "bad argument #1 to 'request' (option 'url': string expected, got number)")
      assert.has_error(function() http.get("http://x/", { timeout = "soon" }) end,
        "bad argument #2 to 'get' (option 'timeout': number expected, got string)")
      assert.has_error(function() http.get("http://x", { timout = 1 }) end,
        "bad argument #2 to 'get' (unknown option 'timout'); did you mean 'timeout'?")
      assert.has_error(function() http.get("http://x", { timeout = "slow" }) end)
      assert.has_error(function() http.get("http://x", { url = "http://y" }) end,
        "bad argument #2 to 'get' (unknown option 'url')")
      assert.has_error(function() http.get("http://x", { retry = { atempts = 2 } }) end,
        "bad argument #2 to 'get' (unknown option 'retry.atempts'); did you mean 'retry.attempts'?")
      assert.has_error(function() http.fetch_all({ "http://x", { url = "http://y", bdy = "" } }) end,
        "bad argument #1 to 'fetch_all' (unknown option '[2].bdy'); did you mean '[2].body'?")
      assert.has_error(function() http.get("http://x", { retry = { attempts = 0 } }) end,
        "bad argument #2 to 'get' (option 'retry.attempts': must be at least 1)")
      assert.has_error(function() http.get("http://x", { retry = { jitter = "half" } }) end,
        "bad argument #2 to 'get' (option 'retry.jitter': \"full\" or \"none\" expected, got 'half')")
      assert.has_error(function() http.get("http://x", { headers = { ["Bad Name"] = "v" } }) end,
        "bad argument #2 to 'get' (option 'headers': name 'Bad Name' is not a valid HTTP token)")
      assert.has_error(function() http.get("http://x", { headers = { X = "a\r\nInjected: 1" } }) end,
        "bad argument #2 to 'get' (option 'headers': 'X' contains a line break)")
      assert.has_error(function() http.request({ url = "http://x", method = "GE T" }) end,
        "bad argument #1 to 'request' (option 'method': an HTTP method expected, got 'GE T')")
      assert.has_error(function() http.get("http://x", { retry = 3 }) end,
        "bad argument #2 to 'get' (option 'retry': table or false expected, got number)")
      assert.has_error(function() http.get("http://x", { timeout = -1 }) end,
        "bad argument #2 to 'get' (option 'timeout': must be >= 0)")
      assert.has_error(function() http.new({ url = "http://x" }) end, "bad argument #1 to 'new' (unknown option 'url')")
      assert.has_error(function() http.new({ timeout = "soon" }) end,
        "bad argument #1 to 'new' (option 'timeout': number expected, got string)")
      assert.has_error(function() http.new({ retry = { jitter = "half" } }) end,
        "bad argument #1 to 'new' (option 'retry.jitter': \"full\" or \"none\" expected, got 'half')")
      assert.has_error(function() http.new("http://x") end, "bad argument #1 to 'new' (table expected, got string)")
      -- a client's methods count arguments as Lua does for methods (self is not one)
      assert.has_error(function() client:get("http://x", { timout = 1 }) end,
        "bad argument #2 to 'get' (unknown option 'timout'); did you mean 'timeout'?")
      assert.has_error(function() client:get(42) end, "bad argument #1 to 'get' (string expected, got number)")
      assert.has_error(function() client:fetch_all({ "http://x" }, { concurrency = 0 }) end,
        "bad argument #2 to 'fetch_all' (option 'concurrency': must be 1..64)")
      assert.has_error(function() client.get("http://x") end)
      assert.has_error(function() paginate.cursor({ url = "http://x", cursor = "c", client = 42 }) end,
        "bad argument #1 to 'cursor' (option 'client': a client of http.new expected, got number)")
      assert.has_error(function() http.fetch_all({ 42 }) end,
        "bad argument #1 to 'fetch_all' (item 1: URL or request table expected, got number)")
      assert.has_error(function() http.fetch_all({ "http://x" }, { concurrency = 0 }) end,
        "bad argument #2 to 'fetch_all' (option 'concurrency': must be 1..64)")
      assert.has_error(function() paginate.cursor({ url = "http://x" }) end,
        "bad argument #1 to 'cursor' (option 'cursor': the JSON path of the next cursor expected, got no value)")
      assert.has_error(function() paginate.next_url({ next = "links.next" }) end,
        "bad argument #1 to 'next_url' (option 'url': string expected, got no value)")
      assert.has_error(function() paginate.link_header({ url = "http://x", max_pages = 0 }) end,
        "bad argument #1 to 'link_header' (option 'max_pages': a whole number from 1 expected, got 0)")
      assert.has_error(function() paginate.collect("pages", { url = "http://x" }) end,
        "bad argument #1 to 'collect' (unknown style 'pages')")
    end)
  end)

  describe("secrets", function()
    it("never shows a bearer token, a password or an api_key, in errors or in logs", function()
      local dir = testenv.tmpdir()
      local script = dir .. "/secrets.lua"
      testenv.write_file(script, [[
        local http = require "salesengine.http"
        local client = http.new({ retry = { base_delay = 0.01 } })
        local base = ...
        local token, key, pw = os.getenv("T_TOKEN"), os.getenv("T_KEY"), os.getenv("T_PW")
        local cases = {
          { base .. "/sales.json?status=503", { bearer = token, query = { api_key = key } } },
          { base .. "/sales.json?status=401&echo=1&api_key=" .. key,
            { headers = { Authorization = "Bearer " .. token } } },
          { base .. "/x?fault=invalid_json&token=" .. key, { basic = { "ann", pw } } },
          { "http://ann:" .. pw .. "@127.0.0.1:1/x?key=" .. key, { retry = { attempts = 2 } } },
          { base .. "/x?fault=truncate", { headers = { ["X-Api-Key"] = token } } },
        }
        for _, c in ipairs(cases) do
          local get = c[1]:find("invalid_json") and client.get_json or client.get
          local ok, err, code = get(client, c[1], c[2])
          print(tostring(ok), err, code)
        end
      ]])
      local token, key, pw = "tok-7f3a9c1e5b", "key-2b8d4e6f0a", "pw-9c7e5a3b1d"
      local r = testenv.salesengine({ script, api.url }, { env = { T_TOKEN = token, T_KEY = key, T_PW = pw } })
      testenv.rm_rf(dir)
      assert.are.equal(0, r.code, r.stderr)
      local out = r.stdout .. r.stderr
      assert.matches("HTTP_503", r.stdout)
      assert.matches("HTTP_401", r.stdout)
      assert.matches("JSON", r.stdout)
      assert.matches("CONNECT", r.stdout)
      assert.matches("PARTIAL", r.stdout)
      assert.matches("retrying", r.stderr)
      for _, secret in ipairs({ token, key, pw }) do
        assert.is_nil(out:find(secret, 1, true), "leaked " .. secret .. " in:\n" .. out)
      end
      -- The secrets did reach the server, so the test exercised them.
      local seen = cjson.encode(api.log())
      assert.truthy(seen:find(token, 1, true))
      assert.truthy(seen:find(key, 1, true))
    end)

    it("redacts URLs for the script's own log lines", function()
      assert.are.equal("https://u:***@h/p?api_key=***&page=2", http.redact_url("https://u:pw@h/p?api_key=abc&page=2"))
    end)
  end)

  describe("concurrent fetching", function()
    it("returns results in order and really overlaps slow pages", function()
      local urls = {}
      for i = 1, 4 do
        urls[i] = api.url .. "/pages/page?total=40&size=10&page=" .. i .. "&delay=1"
      end
      local t0 = now()
      local got = {}
      for i, resp, err in client:fetch_all(urls, { concurrency = 4, json = true }) do
        assert.is_nil(err)
        got[i] = ids(resp.data.data)[1]
      end
      local elapsed = now() - t0
      assert.are.same({ 1, 11, 21, 31 }, got)
      local log = api.log()
      assert.are.equal(4, #log)
      local first, last = math.huge, 0
      for _, e in ipairs(log) do
        first, last = math.min(first, e.time), math.max(last, e.time)
      end
      -- All four were in flight before the first 1-second answer came back.
      assert.is_true(last - first < 0.9, "requests did not overlap: " .. (last - first))
      assert.is_true(elapsed < 3.5, "took " .. elapsed .. " s, sequential would be 4 s")
    end)

    it("downloads the next page while Lua works on the current one", function()
      local urls = {}
      for i = 1, 2 do
        urls[i] = api.url .. "/pages/page?total=20&size=10&page=" .. i .. "&delay=1"
      end
      local iter, _, _, batch = client:fetch_all(urls, { concurrency = 1 })
      assert(iter())
      os.execute("sleep 1.5") -- "working" on page 1
      local after_work = now()
      local i, resp = iter()
      assert.are.equal(2, i)
      assert.are.equal(200, resp.status)
      assert.is_true(now() - after_work < 0.8, "page 2 was not prefetched")
      assert.is_nil(iter())
      batch:close()
    end)

    it("reports failures in place and goes on", function()
      local urls = { api.url .. "/sales.json", api.url .. "/missing.json", { url = api.url .. "/sales.json?fail=1" } }
      local results = {}
      for i, resp, err, code in client:fetch_all(urls) do
        results[i] = resp and resp.attempts or code
        if i == 2 then
          assert.matches("HTTP 404 Not Found", err)
        end
      end
      assert.are.same({ 1, "HTTP_404", 2 }, results)
    end)

    it("stops cleanly when the loop breaks early", function()
      local urls = {}
      for i = 1, 20 do
        urls[i] = api.url .. "/sales.json?delay=0.2&n=" .. i
      end
      local n = 0
      for _ in client:fetch_all(urls, { concurrency = 2 }) do
        n = n + 1
        if n == 2 then
          break
        end
      end
      assert.are.equal(2, n)
      assert.is_true(api.count("/sales.json") <= 6)
      local iter, _, _, batch = client:fetch_all({ api.url .. "/sales.json" })
      batch:close()
      assert.has_error(function() iter() end, "attempt to use a closed HTTP batch")
    end)
  end)

  describe("pagination", function()
    local function collect(iter, state, control, closing)
      local pages, all = {}, {}
      local failure
      for n, page, err, code in iter, state, control, closing do
        if not page then
          failure = { n = n, err = err, code = code }
          break
        end
        pages[#pages + 1] = n
        for _, item in ipairs(page.items) do
          all[#all + 1] = item.id
        end
      end
      return all, pages, failure
    end

    it("follows Link rel=next headers, absolute and relative", function()
      local all, pages = collect(paginate.link_header({ url = api.url .. "/pages/link",
        query = { total = 10, size = 3 } }))
      assert.are.same(range(1, 10), all)
      assert.are.same({ 1, 2, 3, 4 }, pages)
      assert.are.equal(4, api.count("/pages/link"))
      all = collect(paginate.link_header({ url = api.url .. "/pages/link?total=7&size=3&relative=1" }))
      assert.are.same(range(1, 7), all)
    end)

    it("follows a next URL from a JSON path", function()
      local all, pages = collect(paginate.next_url({ url = api.url .. "/pages/next?total=8&size=3",
        next = "links.next" }))
      assert.are.same(range(1, 8), all)
      assert.are.same({ 1, 2, 3 }, pages)
    end)

    it("counts page numbers until an empty page, without yielding it", function()
      local all, pages = collect(paginate.page_number({ url = api.url .. "/pages/page?total=9&size=3" }))
      assert.are.same(range(1, 9), all)
      assert.are.same({ 1, 2, 3 }, pages)
      assert.are.equal(4, api.count("/pages/page"))
    end)

    it("treats a null data array as an empty page", function()
      local all = collect(paginate.page_number({ url = api.url .. "/pages/page?total=5&size=3&nulls=1" }))
      assert.are.same(range(1, 5), all)
      assert.are.equal(3, api.count("/pages/page"))
    end)

    it("stops on has_more = false and on a known total without an extra request", function()
      local all = collect(paginate.page_number({
        url = api.url .. "/pages/page", query = { total = 10, size = 3, fields = "has_more" }, has_more = "has_more" }))
      assert.are.same(range(1, 10), all)
      assert.are.equal(4, api.count("/pages/page"))
      api.reset()
      all = collect(paginate.page_number({ url = api.url .. "/pages/page?total=10&size=5&fields=total",
        total = "total" }))
      assert.are.same(range(1, 10), all)
      assert.are.equal(2, api.count("/pages/page"))
    end)

    it("walks offset/limit pages", function()
      local all, pages = collect(paginate.offset({
        url = api.url .. "/pages/offset?total=10&fields=has_more", items = "items", limit = 4, has_more = "has_more" }))
      assert.are.same(range(1, 10), all)
      assert.are.same({ 1, 2, 3 }, pages)
      local offsets = {}
      for _, e in ipairs(api.log()) do
        offsets[#offsets + 1] = tonumber(e.params.offset[1])
      end
      assert.are.same({ 0, 4, 8 }, offsets)
    end)

    it("passes a cursor from a JSON path back as a parameter", function()
      local all, pages = collect(paginate.cursor({ url = api.url .. "/pages/cursor?total=10&size=3",
        cursor = "meta.next_cursor" }))
      assert.are.same(range(1, 10), all)
      assert.are.same({ 1, 2, 3, 4 }, pages)
      local log = api.log()
      assert.is_nil(log[1].params.cursor)
      assert.are.same({ "c3" }, log[2].params.cursor)
    end)

    it("stops a pagination loop with an error, for links, next URLs and cursors", function()
      local cases = {
        paginate.link_header({ url = api.url .. "/pages/link?total=30&size=3&loop=1&page=1" }),
        paginate.next_url({ url = api.url .. "/pages/next?total=30&size=3&loop=1&page=1", next = "links.next" }),
        paginate.cursor({ url = api.url .. "/pages/cursor?total=30&size=3&loop=1", cursor = "meta.next_cursor" }),
      }
      for _, iter in ipairs(cases) do
        local all, pages, failure = collect(iter)
        assert.are.same({ 1, 2 }, pages)
        assert.are.same(range(1, 6), all)
        assert.are.equal("LOOP", failure.code)
        assert.matches("pagination loop: page 2", failure.err)
      end
    end)

    it("stops after max_pages", function()
      local all, pages = collect(paginate.link_header({ url = api.url .. "/pages/link?total=30&size=3",
        max_pages = 2 }))
      assert.are.same({ 1, 2 }, pages)
      assert.are.same(range(1, 6), all)
      assert.are.equal(2, api.count("/pages/link"))
    end)

    it("fetches a known number of pages concurrently, in order", function()
      local all, pages = collect(paginate.page_number({ url = api.url .. "/pages/page?total=12&size=3", count = 4,
        concurrency = 3 }))
      assert.are.same(range(1, 12), all)
      assert.are.same({ 1, 2, 3, 4 }, pages)
    end)

    it("decodes only the listed fields of each item, fetched one by one or concurrently", function()
      local function read_other(iter, state, control, closing)
        local got = {}
        for _, page in iter, state, control, closing do
          for _, item in ipairs(page.items) do
            got[#got + 1] = item.id
            assert.is_table(getmetatable(item))
            assert.has_error(function()
              return item.name
            end, "record field 'name' is not decoded: the source's fields (id) do not list it")
          end
        end
        return got
      end
      assert.are.same(range(1, 8), read_other(paginate.next_url({ url = api.url .. "/pages/next?total=8&size=3",
        next = "links.next", items = "data", fields = { "id" } })))
      assert.are.same(range(1, 12), read_other(paginate.page_number({
        url = api.url .. "/pages/page?total=12&size=3", count = 4, items = "data", fields = { "id" } })))
      assert.has_error(function()
        paginate.page_number({ url = api.url .. "/pages/page", fields = { "id" } })
      end, "bad argument #1 to 'page_number' (option 'fields': needs option 'items' (the dotted path of the " ..
        "items array))")
    end)

    it("hands a failing page over as an error and stops", function()
      local all, pages, failure = collect(paginate.page_number({
        url = api.url .. "/pages/page?total=9&size=3&status=500", retry = { attempts = 2 }, client = client }))
      assert.are.same({}, all)
      assert.are.same({}, pages)
      assert.are.equal("HTTP_500", failure.code)
      assert.are.equal(1, failure.n)
      assert.matches("failed after 2 attempts", failure.err)
    end)

    it("makes its requests with a client's defaults", function()
      local c = http.new({ query = { total = 10, size = 3 } })
      local all = collect(paginate.link_header({ url = api.url .. "/pages/link", client = c }))
      assert.are.same(range(1, 10), all)
      all = collect(paginate.page_number({ url = api.url .. "/pages/page", count = 4, client = c }))
      assert.are.same(range(1, 10), all)
      local failure = select(3, collect(paginate.page_number({ url = api.url .. "/pages/page",
        client = http.new({ query = { status = 404 } }) })))
      assert.are.equal("HTTP_404", failure.code)
    end)

    it("collects every item of a style into one array", function()
      local all = assert(paginate.collect("cursor", { url = api.url .. "/pages/cursor?total=5&size=2",
        cursor = "meta.next_cursor" }))
      assert.are.same(range(1, 5), ids(all))
    end)
  end)
end)
