--- PostgreSQL load benchmark: conn:upsert against psql's \copy into a
-- staging table plus the same INSERT ... ON CONFLICT, same rows, same run.
-- Run by bench/pg_bench.sh (which provides a throwaway cluster):
--   salesengine bench/pg/bench.lua DSN WORKDIR ROWS BATCH REPEAT
-- Each phase starts from the same table state for both loaders (vacuumed
-- and checkpointed) and runs REPEAT times; the best time counts.
local pg = require "salesengine.pg"
local sys = require "salesengine.sys"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local gen = dofile(dir .. "sales_rows.lua")

local dsn, work, n, batch, repeats = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])

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


io.stderr:write(string.format("generating %d rows (two versions) ...\n", n))
write_file(work .. "/v1.copy", 1)
write_file(work .. "/v2.copy", 2)
local rows_v1, rows_v2 = {}, {}
for i = 1, n do
  rows_v1[i] = gen.row(i, 1)
  rows_v2[i] = gen.row(i, 2)
end
psql("DROP TABLE IF EXISTS fact_sales; " .. TABLE)

local conn = assert(pg.connect(dsn))
local function engine_load(rows, skip_unchanged)
  return assert(conn:upsert("fact_sales", rows, { key = { "sale_id" }, update = { "revenue" },
    set = { loaded_at = "now()" }, skip_unchanged = skip_unchanged, batch_size = batch }))
end
local function table_state()
  return assert(conn:query("SELECT count(*) AS n, sum(revenue)::text AS s FROM fact_sales"))[1]
end

--- Puts the table in the state a phase starts from (untimed): empty, or
-- holding version v of the rows; then vacuums and checkpoints.
local function reset(v)
  psql("TRUNCATE fact_sales")
  if v then psql_load(work .. "/v" .. v .. ".copy", false) end
  psql("VACUUM (ANALYZE) fact_sales; CHECKPOINT;")
end

-- phase name, starting state, rows/file version loaded, skip_unchanged, expected stats field
local phases = {
  { "fresh insert", nil, 2, false, "inserted" },
  { "all-update", 1, 2, false, "updated" },
  { "unchanged re-run", 2, 2, true, "unchanged" },
}
local results = {}
for _, ph in ipairs(phases) do
  local name, from, v, skip, field = ph[1], ph[2], ph[3], ph[4], ph[5]
  local best_e, best_p, after_e, after_p = math.huge, math.huge, nil, nil
  for _ = 1, repeats do
    reset(from)
    local st
    best_e = math.min(best_e, timed(function() st = engine_load(v == 1 and rows_v1 or rows_v2, skip) end))
    assert(st[field] == n, name .. ": " .. field .. " = " .. st[field])
    after_e = table_state()
    reset(from)
    best_p = math.min(best_p, timed(function() psql_load(work .. "/v" .. v .. ".copy", skip) end))
    after_p = table_state()
  end
  -- both loads leave the same table
  assert(after_e.n == n and after_e.n == after_p.n and after_e.s == after_p.s, name .. ": tables differ")
  results[#results + 1] = { name, best_e, best_p }
  io.stderr:write(string.format("%-16s engine %.2f s, psql %.2f s\n", name, best_e, best_p))
end
conn:close()

print(string.format("rows=%d batch_size=%d best of %d", n, batch, repeats))
print(string.format("%-18s %10s %14s %10s %14s %8s", "phase", "engine s", "engine rows/s", "psql s", "psql rows/s",
  "ratio"))
for _, r in ipairs(results) do
  print(string.format("%-18s %10.2f %14.0f %10.2f %14.0f %7.2fx", r[1], r[2], n / r[2], r[3], n / r[3], r[2] / r[3]))
end
print("ratio = engine time / psql time (lower is better; 1.00x = as fast as psql \\copy + INSERT)")
