--- Helpers for the fault specs (tests/integration/faults_*_spec.lua): a sales
-- feed with a known expected table, page files for a paged run, a trap that
-- makes one load batch wait inside PostgreSQL (so a test can hit the engine
-- or the server mid-load at a known point), and background runs that can be
-- signalled.
local testenv = dofile("tests/lib/testenv.lua")

local M = {}

local REGIONS = { "emea", " EMEA ", "Apac", "  amer", "AMER  ", "LatAm", "\tapac\n" }
local BASE = 1767225600 -- 2026-01-01T00:00:00Z

local function iso(t, offset_min, suffix)
  return os.date("!%Y-%m-%dT%H:%M:%S", t + offset_min * 60) .. suffix
end

local DATE_STYLES = {
  function(t) return iso(t, 0, "") end,
  function(t) return iso(t, 330, "+05:30") end,
  function(t) return iso(t, -240, "-04:00") end,
  function(t) return iso(t, 0, "Z") end,
}

--- n sales records of the partner API, deterministic for a seed: ids S1..Sn
-- (every 7th a JSON number), then every 10th id again with a new amount (and
-- a different date and region, which the upsert must ignore), so a repeat
-- falls in the same load batch as its first occurrence or in a later one.
-- Each record: {json = its JSON text, id, epoch, revenue, region}
-- (epoch/region as the first insert stores them; revenue as text with 2
-- decimals).
function M.records(n, seed)
  math.randomseed(seed)
  local list = {}
  local function add(i, t)
    local cents = math.random(1, 99999999)
    local revenue = string.format("%d.%02d", cents // 100, cents % 100)
    local amount = math.random(2) == 1 and ('"' .. revenue .. '"') or revenue
    local region = REGIONS[math.random(#REGIONS)]
    local numeric = i % 7 == 0
    local id = numeric and tostring(900000 + i) or ("S" .. i)
    local id_json = numeric and id or ('"' .. id .. '"')
    local region_json = string.format("%q", region):gsub("\\\n", "\\n"):gsub("\\9", "\\t")
    list[#list + 1] = {
      json = string.format('{"id":%s,"date":"%s","amount_usd":%s,"region":%s}', id_json,
        DATE_STYLES[math.random(#DATE_STYLES)](t), amount, region_json),
      id = id, epoch = t, revenue = revenue, region = region:match("^%s*(.-)%s*$"):upper(),
    }
  end
  for i = 1, n do add(i, BASE + i * 3571) end
  for i = 10, n, 10 do add(i, BASE + 99) end
  return list
end

--- What row-by-row upserts of the records in order (revenue updated, the
-- rest kept from the first insert) leave in fact_sales, as table_lines
-- prints it. lists: record lists applied one after the other; upto (optional)
-- stops after that many records of the last list.
function M.expected(lists, upto)
  local rows = {}
  for li, list in ipairs(lists) do
    local last = (li == #lists and upto) or #list
    for i = 1, last do
      local r = list[i]
      local old = rows[r.id]
      if old then
        old.revenue = r.revenue
      else
        rows[r.id] = { epoch = r.epoch, revenue = r.revenue, region = r.region }
      end
    end
  end
  return M.lines(rows)
end

--- rows ({[sale_id] = {epoch, revenue, region}}) as table_lines prints them.
function M.lines(rows)
  local ids = {}
  for id in pairs(rows) do ids[#ids + 1] = id end
  table.sort(ids)
  local out = {}
  for _, id in ipairs(ids) do
    local e = rows[id]
    out[#out + 1] = string.format("%s|%d|%s|%s\n", id, e.epoch, e.revenue, e.region)
  end
  return table.concat(out)
end

--- fact_sales as "sale_id|epoch|revenue|region" lines sorted by sale_id ("" when empty or missing).
function M.table_lines(dsn)
  if testenv.psql(dsn, "SELECT to_regclass('fact_sales') IS NULL") == "t\n" then
    return ""
  end
  return testenv.psql(dsn, [[SELECT sale_id, extract(epoch FROM sale_date)::bigint, revenue::text, region
    FROM fact_sales ORDER BY sale_id COLLATE "C"]])
end

--- Every column of fact_sales, loaded_at included: "untouched" means equal to an earlier snapshot.
function M.snapshot(dsn)
  if testenv.psql(dsn, "SELECT to_regclass('fact_sales') IS NULL") == "t\n" then
    return ""
  end
  return testenv.psql(dsn, [[SELECT sale_id, sale_date, revenue, region, loaded_at
    FROM fact_sales ORDER BY sale_id COLLATE "C"]])
end

--- The body the sales API serves: {"sales": [...]}.
function M.feed(list)
  local items = {}
  for i, r in ipairs(list) do items[i] = r.json end
  return '{"sales":[\n' .. table.concat(items, ",\n") .. "\n]}"
end

--- Writes list as pages of page_size records (page-1.json, page-2.json, ...
-- in dir, each {"sales": [...], "next": URL or null}) for the paged pipeline;
-- faults[k] (optional) is a query string added to the link to page k, e.g.
-- "fault=invalid_json". Returns the first page's URL.
function M.write_pages(dir, base_url, list, page_size, faults)
  faults = faults or {}
  local pages = (#list + page_size - 1) // page_size
  for p = 1, pages do
    local items = {}
    for i = (p - 1) * page_size + 1, math.min(p * page_size, #list) do
      items[#items + 1] = list[i].json
    end
    local next_json = "null"
    if p < pages then
      local q = faults[p + 1]
      next_json = '"' .. base_url .. "/page-" .. (p + 1) .. ".json" .. (q and ("?" .. q) or "") .. '"'
    end
    testenv.write_file(dir .. "/page-" .. p .. ".json",
      '{"sales":[\n' .. table.concat(items, ",\n") .. '\n],"next":' .. next_json .. "}")
  end
  return base_url .. "/page-1.json" .. (faults[1] and ("?" .. faults[1]) or "")
end

local TRAP_LOCK = 7007 -- advisory lock key the trap waits on
local HOLDER = "se_trap_holder" -- application_name of the session holding it

--- SQL creating fact_sales (scripts/schema.sql) with a trap: the nth merge
-- statement of a load (one per batch) first waits for an advisory lock that
-- the test holds (hold_trap), so the engine is mid-load, with earlier
-- batches done, for exactly as long as the test wants; no timing guesses.
-- The counter is a sequence (not rolled back), so a re-run is not trapped.
function M.trap_sql(nth)
  return testenv.read_file(testenv.root .. "/scripts/schema.sql") .. [[
    DROP SEQUENCE IF EXISTS trap_calls; CREATE SEQUENCE trap_calls;
    CREATE OR REPLACE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      IF nextval('trap_calls') = ]] .. nth .. [[ THEN
        PERFORM pg_advisory_lock(]] .. TRAP_LOCK .. [[);
        PERFORM pg_advisory_unlock(]] .. TRAP_LOCK .. [[);
      END IF;
      RETURN NULL;
    END $f$;
    DROP TRIGGER IF EXISTS trap ON fact_sales;
    CREATE TRIGGER trap AFTER INSERT ON fact_sales FOR EACH STATEMENT EXECUTE FUNCTION trap();]]
end

M.wait_until = testenv.wait_until

local function count(dsn, sql)
  return tonumber(testenv.psql(dsn, sql):match("%d+"))
end

--- Takes the trap's lock in a background session of dsn's server (until
-- release_trap); returns once it is held.
function M.hold_trap(dsn)
  assert(os.execute("psql -XAtq -d " .. testenv.shquote(dsn .. " application_name=" .. HOLDER) ..
    " -c 'SELECT pg_advisory_lock(" .. TRAP_LOCK .. ")' -c 'SELECT pg_sleep(3600)' >/dev/null 2>&1 &"))
  M.wait_until("the trap's lock", function()
    return count(dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = " .. TRAP_LOCK ..
      " AND granted") == 1
  end)
end

--- Ends the session holding the trap's lock (if any): a trapped load goes on.
function M.release_trap(dsn)
  testenv.psql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" ..
    HOLDER .. "'")
end

--- Waits until the load waits in the trap (the engine is mid-load).
function M.wait_for_trap(dsn)
  return M.wait_until("the load to reach the trap", function()
    return count(dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = " .. TRAP_LOCK ..
      " AND NOT granted") > 0
  end, 60)
end

local Run = {}
Run.__index = Run

--- Sends a signal ("INT", "TERM", "KILL") to the running engine.
function Run:signal(name)
  assert(os.execute("kill -s " .. name .. " " .. self.pid), "kill failed")
end

--- Waits for the run to end (raises after timeout seconds); returns
-- {status = "exit N" | "signal N", code = N or nil, stdout, stderr}.
function Run:wait(timeout)
  local status = testenv.wait_for_file(self.dir .. "/status", timeout or 120)
  local r = {
    status = status, code = tonumber(status:match("^exit (%d+)$")),
    stdout = testenv.read_file(self.dir .. "/stdout"), stderr = testenv.read_file(self.dir .. "/stderr"),
  }
  testenv.rm_rf(self.dir)
  return r
end

--- Starts the salesengine binary with args in the background, with env
-- (name = value) added to the environment. Returns a run with pid, :signal, :wait.
function M.spawn(args, env)
  local dir = testenv.tmpdir()
  local parts = { "env" }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = testenv.shquote(k .. "=" .. tostring(v))
  end
  parts[#parts + 1] = testenv.python3 .. " " .. testenv.shquote(testenv.root .. "/tests/lib/fault_run.py")
  parts[#parts + 1] = testenv.shquote(dir) .. " " .. testenv.shquote(testenv.bin)
  for _, a in ipairs(args) do
    parts[#parts + 1] = testenv.shquote(a)
  end
  assert(os.execute(table.concat(parts, " ") .. " </dev/null >/dev/null 2>&1 &"))
  local pid = tonumber(testenv.wait_for_file(dir .. "/pid", 20))
  return setmetatable({ pid = pid, dir = dir }, Run)
end

--- Runs a pipeline script to the end (see testenv.salesengine) with fast HTTP retries.
function M.run(script, env, extra_args)
  env.SALES_RETRY_DELAY = env.SALES_RETRY_DELAY or "0.05"
  local args = {}
  for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
  args[#args + 1] = script
  return testenv.salesengine(args, { env = env, timeout = 120 })
end

return M
