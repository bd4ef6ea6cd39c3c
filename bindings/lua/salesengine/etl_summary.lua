--- salesengine.etl_summary: the run summary of salesengine.etl: one table
-- with every count and per-stage timing, its log fields, and the
-- --summary-json file for schedulers (written by etl.run, and by the host
-- again on every exit: write_final).
local cjson = require "cjson"
local atomic_file = require "salesengine.atomic_file"

local M = {}

local last -- the summary of this process's latest etl.run (M.record)

--- Epoch seconds t (float) as ISO-8601 UTC with milliseconds.
function M.iso_utc(t)
  local secs = math.floor(t)
  local ms = math.floor((t - secs) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", ms)
end

-- Seconds rounded to milliseconds.
local function round3(x)
  return math.floor(x * 1000 + 0.5) / 1000
end

--- Builds the summary. run: {run_id, pipeline, dry_run, started_at, finished_at
-- (epoch seconds), counts = {pages, extracted, transformed, loaded, skipped, rejected},
-- tables = {name -> {rows, inserted, updated, unchanged}}, timings = {extract,
-- transform, load, total} (seconds), rejects_to, max_rejects, failure =
-- {kind, message, code, exit_code} or nil}.
function M.build(run)
  local c = run.counts
  local s = {
    run_id = run.run_id,
    pipeline = run.pipeline,
    status = run.failure and "failed" or "ok",
    exit_code = run.failure and run.failure.exit_code or 0,
    dry_run = run.dry_run,
    started_at = M.iso_utc(run.started_at),
    finished_at = M.iso_utc(run.finished_at),
    pages = c.pages,
    extracted = c.extracted,
    transformed = c.transformed,
    loaded = c.loaded,
    skipped = c.skipped,
    rejected = c.rejected,
    -- a failed run stops part-way: its counts need not add up
    identity_ok = (not run.failure) and c.extracted == c.loaded + c.skipped + c.rejected or nil,
    committed = run.committed,
    tables = run.tables,
    timings = {
      extract_s = round3(run.timings.extract),
      transform_s = round3(run.timings.transform),
      load_s = round3(run.timings.load),
      total_s = round3(run.timings.total),
    },
    rejects = { count = c.rejected, destination = run.rejects_to, max = run.max_rejects },
  }
  if run.failure then
    s.error = { kind = run.failure.kind, message = run.failure.message, code = run.failure.code }
  end
  return s
end

--- The fields of the final log line for summary s.
function M.log_fields(s)
  local f = {
    run_id = s.run_id,
    pages = s.pages,
    extracted = s.extracted,
    loaded = s.loaded,
    skipped = s.skipped,
    rejected = s.rejected,
    identity = s.status == "ok" and (s.identity_ok and "ok" or "BROKEN") or nil,
    extract_s = s.timings.extract_s,
    transform_s = s.timings.transform_s,
    load_s = s.timings.load_s,
    total_s = s.timings.total_s,
  }
  if s.rejected > 0 then
    f.rejects_to = s.rejects.destination
  end
  if s.dry_run then
    f.dry_run = true
  end
  return f
end

--- A copy of v with every secret the run knows masked in its strings (salesengine.guard.redact).
function M.redacted(v)
  if type(v) == "string" then
    return require("salesengine.guard").redact(v)
  elseif type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = M.redacted(x)
  end
  return setmetatable(out, getmetatable(v))
end

--- Writes s as JSON to path (via a temporary file and a rename, so a reader
-- never sees half a file). Returns true or nil, message, "IO".
function M.write_json(path, s)
  local ok, err = atomic_file.write(path, path .. ".tmp", cjson.encode(M.redacted(s)) .. "\n")
  if not ok then
    return nil, "cannot write the summary: " .. tostring(err), "IO"
  end
  return true
end

--- Keeps s as the summary of this process's latest etl.run, for write_final.
function M.record(s)
  last = s
end

--- The --summary-json file of the process, which the host writes on every
-- exit once the command line names it (usage errors, script errors, failed
-- extracts and loads, interruptions, and runs that never reached etl.run):
-- the latest etl.run's summary when the process ends with its exit code;
-- otherwise that summary (or, without one, the little that is known) with
-- the process's status, exit_code and error ({kind, message, code}, nil
-- for exit code 0). seconds: how long the process ran. When the file cannot
-- be written, a previous one is removed (it would tell of another run) and
-- the error raised.
function M.write_final(path, exit_code, err, seconds)
  local s = last
  if s == nil or s.exit_code ~= exit_code then
    local sys = require "salesengine.sys"
    local now = sys.time()
    s = { dry_run = sys.options().dry_run or false, started_at = M.iso_utc(now - seconds),
      finished_at = M.iso_utc(now) }
    for k, v in pairs(last or {}) do
      s[k] = v
    end
    s.status, s.exit_code, s.error = exit_code == 0 and "ok" or "failed", exit_code, err
  end
  local ok, werr = M.write_json(path, s)
  if not ok then
    os.remove(path)
    error(werr, 0)
  end
end

return M
