-- Security (issue 7): SQL injection through values and names, secrets kept out
-- of every output of failing pipelines, TLS verification, and Lua scripts
-- misusing the bindings (each a Lua error, never a crash).
local testenv = dofile("tests/lib/testenv.lua")
local api_fixture = dofile("tests/lib/api_fixture.lua")
local F = dofile("tests/lib/fault_helpers.lua")
local cjson = require "cjson"

local SECRET_PIPELINE = "tests/integration/pipelines/secret_sales.lua"

local function random_hex(n)
  local p = assert(io.popen("od -An -N" .. n .. " -tx1 /dev/urandom"))
  local s = p:read("a"):gsub("%s", "")
  p:close()
  return s
end

--- Runs a Lua file under the engine (as a separate process, so a crash shows as a signal).
local function run_lua(dir, code, env)
  local path = dir .. "/case.lua"
  testenv.write_file(path, code)
  return testenv.salesengine({ "--no-strict", path }, { env = env, timeout = 60 })
end

describe("SQL injection", function()
  local dir, dsn
  local EVIL = {
    "x'); DROP TABLE canary; --",
    'x"; DROP TABLE canary; --',
    "\\'; DROP TABLE canary; --",
    "$1; DROP TABLE canary",
    "' OR '1'='1",
  }

  setup(function()
    dir = testenv.tmpdir()
    dsn = testenv.fresh_db("security_sql")
  end)

  teardown(function()
    testenv.rm_rf(dir)
  end)

  before_each(function()
    testenv.psql(dsn, [[DROP TABLE IF EXISTS canary, t, fact_sales, etl_rejects;
      CREATE TABLE canary (n int); INSERT INTO canary VALUES (42);
      CREATE TABLE t (id int PRIMARY KEY, v text)]])
  end)

  after_each(function()
    assert.are.equal("42\n", testenv.psql(dsn, "SELECT n FROM canary"))
  end)

  it("stores hostile values verbatim through exec, query and upsert", function()
    local r = run_lua(dir, [[
      local pg = require "salesengine.pg"
      local cjson = require "cjson"
      local evil = cjson.decode(os.getenv("EVIL"))
      local conn = assert(pg.connect(os.getenv("DSN")))
      assert(conn:exec("INSERT INTO t (id, v) VALUES ($1, $2)", 100, evil[1]))
      local rows = {}
      for i, v in ipairs(evil) do rows[i] = { id = i, v = v } end
      assert(conn:upsert("t", rows, { key = "id" }))
      local got = assert(conn:query("SELECT count(*) AS n FROM t WHERE v = $1", evil[2]))
      io.write(got[1].n)
    ]], { DSN = dsn, EVIL = cjson.encode(EVIL) })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1", r.stdout)
    local want = { "100|" .. EVIL[1] }
    for i, v in ipairs(EVIL) do want[#want + 1] = i .. "|" .. v end
    table.sort(want)
    assert.are.equal(table.concat(want, "\n") .. "\n",
      testenv.psql(dsn, [[SELECT line FROM (SELECT id || '|' || v AS line FROM t) s ORDER BY line COLLATE "C"]]))
  end)

  it("quotes hostile table, schema, column and key names (refused, never executed)", function()
    local r = run_lua(dir, [[
      local pg = require "salesengine.pg"
      local conn = assert(pg.connect(os.getenv("DSN")))
      local bad = 'x"; DROP TABLE canary; --'
      local cases = {
        { 'canary"; DROP TABLE canary; --', { { id = 1 } }, { key = "id" } },
        { { bad, "t" }, { { id = 1, v = "a" } }, { key = "id" } },
        { "t", { { id = 1, [bad] = "a" } }, { key = "id", columns = { "id", bad } } },
        { "t", { { id = 1, v = "a" } }, { key = 'id") DO NOTHING; DROP TABLE canary; --' } },
        { "t", { { id = 1, v = "a" } }, { key = "id", update = { bad } } },
      }
      for i, c in ipairs(cases) do
        local ok, res, err, code = pcall(conn.upsert, conn, c[1], c[2], c[3])
        io.write(i, ":", tostring(ok and res ~= nil), ":", tostring(ok and code or res), "\n")
      end
      -- and names that merely look odd are taken literally, not parsed
      assert(conn:exec('CREATE TABLE "we""ird; name" (id int PRIMARY KEY, "col ""x"" ;" text)'))
      assert(conn:upsert('we"ird; name', { { id = 1, ['col "x" ;'] = "ok" } }, { key = "id" }))
    ]], { DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    for i = 1, 5 do
      -- each either raised (a programmer mistake) or returned a failure; none succeeded
      assert.matches("\n?" .. i .. ":false:", r.stdout)
    end
    assert.are.equal("1|ok\n", testenv.psql(dsn, [[SELECT id, "col ""x"" ;" FROM "we""ird; name"]]))
    assert.are.equal("", testenv.psql(dsn, "SELECT * FROM t"))
  end)

  it("loads hostile values of a feed verbatim through the sales pipeline", function()
    local api = api_fixture.start({ root = dir })
    local items = {}
    for i, v in ipairs(EVIL) do
      items[i] = cjson.encode({ id = v, date = "2026-01-0" .. i .. "T00:00:00Z", amount_usd = "1." .. i,
        region = v })
    end
    items[#items + 1] = cjson.encode({ id = EVIL[1] .. "!", date = "bad", amount_usd = "1", region = EVIL[2] })
    testenv.write_file(dir .. "/evil.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
    local r = F.run("scripts/pipeline.lua", { SALES_API_URL = api.url .. "/evil.json", WAREHOUSE_DSN = dsn,
      SALES_MAX_REJECTS = "10" })
    api.stop()
    assert.are.equal(0, r.code, r.stderr)
    local want = {}
    for _, v in ipairs(EVIL) do want[#want + 1] = v .. "|" .. v:upper() end
    table.sort(want)
    assert.are.equal(table.concat(want, "\n") .. "\n",
      testenv.psql(dsn, [[SELECT line FROM (SELECT sale_id || '|' || region AS line FROM fact_sales) s
        ORDER BY line COLLATE "C"]]))
    assert.are.equal(EVIL[1] .. "!\n", testenv.psql(dsn, "SELECT record_key FROM etl_rejects"))
  end)
end)

describe("secrets", function()
  local dir, api, dsn, password_dsn, password
  local token, api_key = "tok-" .. random_hex(12), "key-" .. random_hex(12)

  setup(function()
    dir = testenv.tmpdir()
    api = api_fixture.start({ root = dir })
    dsn, password_dsn, password = testenv.fresh_db("security_secrets")
    assert.is_true(#password >= 8)
    local items = {}
    for _, r in ipairs(F.records(30, 31)) do items[#items + 1] = r.json end
    for i = 1, 5 do
      items[#items + 1] = '{"id":"BAD' .. i .. '","date":"2026-13-45","amount_usd":"1","region":"emea"}'
    end
    testenv.write_file(dir .. "/sales.json", '{"sales":[' .. table.concat(items, ",") .. "]}")
  end)

  teardown(function()
    api.stop()
    testenv.rm_rf(dir)
  end)

  --- Runs the credentialed pipeline in both log formats at debug level and checks that no secret
  -- appears in stdout, stderr, the summary file or the rejects file; returns the logfmt run.
  local function run_checked(url, db, extra_env)
    local first
    for _, format in ipairs({ "logfmt", "json" }) do
      local sfile, rfile = dir .. "/summary-" .. format .. ".json", dir .. "/rejects-" .. format .. ".jsonl"
      os.remove(rfile)
      local env = { SALES_API_URL = url, WAREHOUSE_DSN = db, SALES_API_TOKEN = token, SALES_API_KEY = api_key,
        SE_SOURCE_DIR = testenv.root, SALES_REJECTS_FILE = rfile }
      for k, v in pairs(extra_env or {}) do env[k] = v end
      local r = testenv.salesengine({ "--log-level", "debug", "--log-format", format, "--summary-json", sfile,
        SECRET_PIPELINE }, { env = env, timeout = 60 })
      assert.are_not.equal(0, r.code, r.stderr)
      local outputs = { stdout = r.stdout, stderr = r.stderr, summary = testenv.read_file(sfile) }
      local f = io.open(rfile, "rb")
      if f then
        outputs.rejects = f:read("a")
        f:close()
      end
      for what, text in pairs(outputs) do
        for name, secret in pairs({ password = password, token = token, api_key = api_key }) do
          assert.falsy(text:find(secret, 1, true), name .. " in " .. what .. " (" .. format .. "):\n" .. text)
        end
      end
      first = first or r
      first.rejects = first.rejects or outputs.rejects
    end
    return first
  end

  it("are not shown when the API refuses the credentials and echoes them back", function()
    for _, q in ipairs({ "?status=401&echo=1", "?status=503&echo=1" }) do
      local r = run_checked(api.url .. "/sales.json" .. q, password_dsn)
      assert.are.equal(3, r.code, r.stderr)
      assert.matches("api_key=%*%*%*", r.stderr) -- the URL is named, with the key masked
    end
    -- the credentials were really sent (so the check above means something)
    local seen = api.log()[1]
    assert.are.equal("Bearer " .. token, seen.headers.authorization)
    assert.are.same({ api_key }, seen.params.api_key)
  end)

  it("are not shown when a URL password or the DSN password comes back in an error body (issue 18)", function()
    local url_pw = "upw-" .. random_hex(12)
    local host = api.url:match("^http://(.*)$")
    -- the fixture's 403 body echoes the query: both passwords come back in the body excerpt
    local url = "http://user:" .. url_pw .. "@" .. host .. "/sales.json?status=403&echo=1&a=" .. url_pw ..
      "&b=" .. password
    local sfile = dir .. "/summary-echo.json"
    local r = testenv.salesengine({ "--log-level", "debug", "--summary-json", sfile, "scripts/pipeline.lua" },
      { env = { SALES_API_URL = url, WAREHOUSE_DSN = password_dsn }, timeout = 60 })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("user:%*%*%*@", r.stderr)
    assert.matches("HTTP 403", r.stderr)
    local summary = testenv.read_file(sfile)
    assert.matches("HTTP 403", summary)
    for what, text in pairs({ stdout = r.stdout, stderr = r.stderr, summary = summary }) do
      for name, secret in pairs({ url_password = url_pw, dsn_password = password }) do
        assert.falsy(text:find(secret, 1, true), name .. " in " .. what .. ":\n" .. text)
      end
    end
  end)

  it("are not shown when the warehouse is unreachable or refuses the password", function()
    local closed = password_dsn:gsub(":(%d+)/", ":" .. testenv.free_port() .. "/")
    local r = run_checked(api.url .. "/sales.json", closed)
    assert.are.equal(4, r.code, r.stderr)
    assert.is_nil(r.rejects) -- the database is reached before the extract (issue 18): nothing was read
    local wrong = password_dsn:gsub(password:gsub("%p", "%%%0"), password .. "x")
    assert.are_not.equal(password_dsn, wrong)
    r = run_checked(api.url .. "/sales.json", wrong)
    assert.are.equal(4, r.code, r.stderr)
    assert.matches("password authentication failed", r.stderr)
  end)

  it("are not shown when too many rejects fail a run, nor in the etl_rejects table", function()
    testenv.psql(dsn, "DROP TABLE IF EXISTS etl_rejects")
    local r = run_checked(api.url .. "/sales.json", password_dsn, { SALES_REJECTS_FILE = false })
    assert.are.equal(5, r.code, r.stderr)
    local stored = testenv.psql(dsn, "SELECT t::text FROM etl_rejects t")
    assert.matches("BAD1", stored)
    for _, secret in ipairs({ password, token, api_key }) do
      assert.falsy(stored:find(secret, 1, true), stored)
    end
  end)
end)

describe("TLS", function()
  local dir, server, port

  setup(function()
    dir = testenv.tmpdir()
    local function cert(name, san)
      assert(os.execute(string.format("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=%s " ..
        "-addext subjectAltName=%s -keyout %s/%s.key -out %s/%s.pem 2>/dev/null", san:match(":(.*)"), san,
        dir, name, dir, name)))
    end
    cert("local", "IP:127.0.0.1")
    cert("other", "DNS:other.example")
    server = testenv.python(testenv.root .. "/tests/fixtures/tls_server.py",
      { "--cert", dir .. "/local.pem", "--key", dir .. "/local.key", "--port-file", dir .. "/port" })
    port = tonumber(testenv.wait_for_file(dir .. "/port", 20))
  end)

  teardown(function()
    server:stop()
    testenv.rm_rf(dir)
  end)

  local function get(opts)
    local r = run_lua(dir, [[
      local http = require "salesengine.http"
      local opts = require("cjson").decode(os.getenv("OPTS"))
      opts.retry = false
      local resp, err, code = http.get(os.getenv("URL"), opts)
      io.write(resp and ("OK " .. resp.status .. " " .. resp.body) or ("FAIL " .. code .. " " .. err))
    ]], { URL = "https://127.0.0.1:" .. port .. "/sales", OPTS = cjson.encode(opts) })
    assert.are.equal(0, r.code, r.stderr)
    return r
  end

  it("verifies by default: a self-signed certificate is refused", function()
    local r = get({})
    assert.matches("^FAIL TLS GET https://127%.0%.0%.1:%d+/sales failed: TLS certificate not trusted", r.stdout)
  end)

  it("accepts the server with its certificate as ca_file", function()
    assert.matches('^OK 200 {"sales"', get({ ca_file = dir .. "/local.pem" }).stdout)
  end)

  it("still checks the host name with a trusted CA file", function()
    assert.matches("^FAIL TLS ", get({ ca_file = dir .. "/other.pem" }).stdout)
  end)

  it("skips verification only when asked, and says so in the log", function()
    local r = get({ insecure = true })
    assert.matches("^OK 200", r.stdout)
    assert.matches('level=warn msg="TLS certificate verification is DISABLED', r.stderr)
  end)

  it("refuses a redirect from https to http unless allow_insecure_redirect is set (issue 18)", function()
    local plain = api_fixture.start()
    local function via_redirect(opts)
      local url = "https://127.0.0.1:" .. port .. "/_redirect?to=" .. plain.url .. "/_echo"
      local r = run_lua(dir, [[
        local http = require "salesengine.http"
        local opts = require("cjson").decode(os.getenv("OPTS"))
        local resp, err, code = http.get(os.getenv("URL"), opts)
        io.write(resp and ("OK " .. resp.status .. " " .. resp.body) or ("FAIL " .. code .. " " .. err))
      ]], { URL = url, OPTS = cjson.encode(opts) })
      assert.are.equal(0, r.code, r.stderr)
      return r.stdout
    end
    local out = via_redirect({ ca_file = dir .. "/local.pem", headers = { ["X-Api-Key"] = "K-tls-secret" } })
    assert.matches("^FAIL INSECURE_REDIRECT GET https://.* failed: refused to follow a redirect from https to " ..
      "plain http %(http://127%.0%.0%.1:%d+/_echo%); allow it with allow_insecure_redirect = true", out)
    assert.are.equal(0, plain.count("/_echo"))
    out = via_redirect({ ca_file = dir .. "/local.pem", allow_insecure_redirect = true,
      headers = { ["X-Api-Key"] = "K-tls-secret" } })
    assert.matches("^OK 200", out)
    assert.falsy(out:find("K-tls-secret", 1, true), out) -- another origin: the key stays home
    plain.stop()
  end)

  it("makes the sales pipeline fail cleanly without the CA, and load with it", function()
    local dsn = testenv.fresh_db("security_tls")
    local env = { SALES_API_URL = "https://127.0.0.1:" .. port .. "/sales", WAREHOUSE_DSN = dsn,
      SALES_API_TOKEN = "t0k3n-tls", SALES_API_KEY = "k3y-tls", SE_SOURCE_DIR = testenv.root }
    local r = testenv.salesengine({ SECRET_PIPELINE }, { env = env, timeout = 60 })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("TLS certificate not trusted", r.stderr)
    env.SALES_CA_FILE = dir .. "/local.pem"
    r = testenv.salesengine({ SECRET_PIPELINE }, { env = env, timeout = 60 })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("T1|12.50|EMEA\nT2|7.00|APAC\n", testenv.psql(dsn, "SELECT sale_id, revenue, region " ..
      "FROM fact_sales ORDER BY sale_id"))
  end)
end)

describe("bindings misuse", function()
  local dir, dsn

  setup(function()
    dir = testenv.tmpdir()
    dsn = testenv.fresh_db("security_misuse")
  end)

  teardown(function()
    testenv.rm_rf(dir)
  end)

  -- Each case runs in its own process and must raise a Lua error matching the pattern.
  local CASES = {
    { "http.get(42)", "bad argument #1 to 'get' %(string expected, got number%)" },
    { "http.get('http://127.0.0.1:1/', { timout = 1 })", "unknown option 'timout'" },
    { "http.get('http://127.0.0.1:1/', { timeout = 'soon' })", "timeout" },
    { "http.get('http://127.0.0.1:1/', { headers = { ['X-A'] = 'a\\r\\nX-B: b' } })", "line break" },
    { "http.get('http://127.0.0.1:1/', { retry = { attempts = 0 } })",
      "bad argument #2 to 'get' %(option 'retry.attempts': must be at least 1%)" },
    { "http.request('http://x')", "table expected" },
    { "http.fetch_all(42)", "table expected" },
    { "local it, s, c, b = http.fetch_all({ 'http://127.0.0.1:1/' }, { retry = false }); b:close(); it(s, c)",
      "attempt to use a closed HTTP batch" },
    { "pg.connect(DSN, { reconnect_attempts = 'x' })",
      "bad argument #2 to 'connect' %(option 'reconnect_attempts': number expected, got string%)" },
    { "pg.connect({})", "string expected" },
    { "local c = assert(pg.connect(DSN)); c:upsert('t', 'rows', { key = 'id' })", "table expected, got string" },
    { "local c = assert(pg.connect(DSN)); c:upsert('t', {}, { key = 'id', bogus = 1 })",
      "bad argument #3 to 'upsert' %(unknown option 'bogus'%)" },
    { "local c = assert(pg.connect(DSN)); c:close(); c:exec('SELECT 1')", "attempt to use a closed connection" },
    { "local c = assert(pg.connect(DSN)); c:close(); c:close(); c:query('SELECT 1')",
      "attempt to use a closed connection" },
    { "local c = assert(pg.connect(DSN)); getmetatable(c).__index.exec(io.stdout, 'SELECT 1')",
      "salesengine.pg.Conn expected" },
    { "local c = assert(pg.connect(DSN)); c:transaction(function(x) x:close(); return x:exec('SELECT 1') end)",
      "attempt to use a closed connection" },
    { "local c = assert(pg.connect(DSN)); c:transaction(function(x) return x:transaction(function() end) end)",
      "already open" },
    { "local c = assert(pg.connect(DSN)); c:transaction(function() error('boom in callback') end)",
      "boom in callback" },
    { "local c = assert(pg.connect(DSN)); c:transaction(function() end)", "" },
    { "log.info('m', { x = setmetatable({}, { __tostring = function() error('tostring boom') end }) })",
      "tostring boom" },
    { "log.info('m', { [1] = 2 })", "bad argument #2 to 'info' %(field names must be strings, got number%)" },
    { "sys.sleep('x')", "number expected" },
  }

  for i, case in ipairs(CASES) do
    it("case " .. i .. ": " .. case[1], function()
      local r = run_lua(dir, [[
        local http, pg = require "salesengine.http", require "salesengine.pg"
        local log, sys = require "salesengine.log", require "salesengine.sys"
        local DSN = os.getenv("DSN")
        local ok, err = pcall(function() ]] .. case[1] .. [[ end)
        collectgarbage()
        io.write(ok and "NO ERROR" or ("RAISED " .. tostring(err)))
      ]], { DSN = dsn })
      assert.are.equal(0, r.code, r.stderr) -- a crash would be 128 + signal
      assert.matches("^RAISED .*" .. case[2], r.stdout)
    end)
  end

  it("keeps a connection usable after a callback raised inside a transaction", function()
    local r = run_lua(dir, [[
      local pg = require "salesengine.pg"
      local c = assert(pg.connect(os.getenv("DSN")))
      assert(c:exec("DROP TABLE IF EXISTS m; CREATE TABLE m (id int PRIMARY KEY)"))
      local ok, err = pcall(c.transaction, c, function(x)
        assert(x:exec("INSERT INTO m VALUES (1)"))
        error({ reason = "a table error" })
      end)
      assert(not ok and err.reason == "a table error")
      local rows = assert(c:query("SELECT count(*) AS n FROM m"))
      io.write("rows=", rows[1].n)
      do local d <close> = assert(pg.connect(os.getenv("DSN"))) end
      local leaked = assert(pg.connect(os.getenv("DSN")))
      assert(leaked:begin())
      leaked = nil -- luacheck: ignore
      collectgarbage()
    ]], { DSN = dsn })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("rows=0", r.stdout)
  end)
end)
