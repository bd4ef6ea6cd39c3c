--- PostgreSQL load benchmark: conn:upsert against psql's \copy into a
-- staging table plus the same INSERT ... ON CONFLICT, same rows, same run.
-- Run by bench/pg_bench.sh (which provides a throwaway cluster):
--   salesengine bench/pg/bench.lua DSN WORKDIR ROWS BATCH
local pg = require "salesengine.pg"
local sys = require "salesengine.sys"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local gen = dofile(dir .. "sales_rows.lua")

local dsn, work, n, batch = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function psql(sql)
  local ok = os.execute("psql -XAtq -v ON_ERROR_STOP=1 -d " .. sh_quote(dsn) .. " >/dev/null <<'SQL'\n"
    .. "SET client_min_messages = warning;\n" .. sql
    .. "\nSQL")
  assert(ok, "psql failed")
end

local TABLE = [[CREATE TABLE IF NOT EXISTS fact_sales (sale_id text PRIMARY KEY, sale_date timestamptz NOT NULL,
  revenue numeric(14,2) NOT NULL, region text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())]]

--- The baseline: one psql session, \copy of the file into a temporary
-- staging table, then the INSERT the engine would run for the same options.
local function psql_load(file, skip_unchanged)
  local where = skip_unchanged and " WHERE ROW(t.revenue) IS DISTINCT FROM ROW(EXCLUDED.revenue)" or ""
  psql("BEGIN;\nCREATE TEMP TABLE stage AS SELECT sale_id, sale_date, revenue, region FROM fact_sales WITH NO DATA;\n"
    .. "\\copy stage FROM '" .. file .. "'\n"
    .. "INSERT INTO fact_sales AS t (sale_id, sale_date, revenue, region) SELECT * FROM stage "
    .. "ON CONFLICT (sale_id) DO UPDATE SET revenue = EXCLUDED.revenue, loaded_at = (now())" .. where .. ";\n"
    .. "COMMIT;")
end

local function write_file(path, v)
  local f = assert(io.open(path, "wb"))
  local buf = {}
  for i = 1, n do
    buf[#buf + 1] = gen.copy_line(gen.row(i, v))
    if #buf == 10000 then
      f:write(table.concat(buf))
      buf = {}
    end
  end
  f:write(table.concat(buf))
  f:close()
end

local function timed(fn)
  local t0 = sys.monotonic()
  fn()
  return sys.monotonic() - t0
end

local function settle()
  psql("VACUUM (ANALYZE) fact_sales; CHECKPOINT;")
end

io.stderr:write(string.format("generating %d rows (two versions) ...\n", n))
write_file(work .. "/v1.copy", 1)
write_file(work .. "/v2.copy", 2)
local rows = {}
for i = 1, n do rows[i] = gen.row(i, 1) end
psql("DROP TABLE IF EXISTS fact_sales; " .. TABLE)

local conn = assert(pg.connect(dsn))
local function engine_load(skip_unchanged)
  local st = assert(conn:upsert("fact_sales", rows, { key = { "sale_id" }, update = { "revenue" },
    set = { loaded_at = "now()" }, skip_unchanged = skip_unchanged, batch_size = batch }))
  return st
end
local function count_check(want)
  local got = assert(conn:query("SELECT count(*) AS n, sum(revenue)::text AS s FROM fact_sales"))[1]
  assert(got.n == n, "row count " .. got.n)
  return want == nil or assert(got.s == want, "sum " .. got.s .. " ~= " .. want)
end

local results = {}
local function record(phase, engine_s, psql_s)
  results[#results + 1] = { phase, engine_s, psql_s }
  io.stderr:write(string.format("%-16s engine %.2f s, psql %.2f s\n", phase, engine_s, psql_s))
end

-- 1. fresh insert
psql("TRUNCATE fact_sales"); settle()
local st
local e = timed(function() st = engine_load(false) end)
assert(st.inserted == n, "inserted " .. st.inserted)
count_check()
local sum_v1 = assert(conn:query("SELECT sum(revenue)::text AS s FROM fact_sales"))[1].s
psql("TRUNCATE fact_sales"); settle()
local p = timed(function() psql_load(work .. "/v1.copy", false) end)
count_check(sum_v1)
record("fresh insert", e, p)

-- 2. every row updated (new revenue)
for i = 1, n do rows[i].revenue = gen.row(i, 2).revenue end
settle()
e = timed(function() st = engine_load(false) end)
assert(st.updated == n, "updated " .. st.updated)
local sum_v2 = assert(conn:query("SELECT sum(revenue)::text AS s FROM fact_sales"))[1].s
psql("TRUNCATE fact_sales"); psql_load(work .. "/v1.copy", false); settle()
p = timed(function() psql_load(work .. "/v2.copy", false) end)
count_check(sum_v2)
record("all-update", e, p)

-- 3. the same data again with skip_unchanged
settle()
e = timed(function() st = engine_load(true) end)
assert(st.unchanged == n and st.updated == 0, "unchanged " .. st.unchanged)
count_check(sum_v2)
settle()
p = timed(function() psql_load(work .. "/v2.copy", true) end)
record("unchanged re-run", e, p)
conn:close()

print(string.format("rows=%d batch_size=%d", n, batch))
print(string.format("%-18s %12s %12s %12s %12s %8s", "phase", "engine s", "engine rows/s", "psql s", "psql rows/s",
  "ratio"))
for _, r in ipairs(results) do
  print(string.format("%-18s %12.2f %12.0f %12.2f %12.0f %7.2fx", r[1], r[2], n / r[2], r[3], n / r[3], r[2] / r[3]))
end
print("ratio = engine time / psql time (lower is better; 1.00x = as fast as psql \\copy + INSERT)")
