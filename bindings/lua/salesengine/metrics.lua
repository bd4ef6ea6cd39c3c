--- salesengine.metrics: the --metrics-file of a run, in the Prometheus text
-- format for node_exporter's textfile collector. etl.run records each run's
-- summary here (the figures of the summary line and --summary-json); the host
-- calls write() on every exit, failures included. Reference: docs/lua-api.md.
local sys = require "salesengine.sys"
local atomic_file = require "salesengine.atomic_file"

local M = {}

local summaries = {} -- the summaries of this process's etl.run calls, in order

--- Records the summary s of an etl.run (salesengine.etl_summary.build).
function M.record(s)
  summaries[#summaries + 1] = s
end

-- A label value with \, " and newlines escaped.
local function label_value(v)
  return (tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

-- {name = value, ...} as {a="x",b="y"}, names in the order given by keys.
local function labels(keys, values)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. '="' .. label_value(values[k]) .. '"'
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function number(v)
  if math.type(v) == "integer" then
    return tostring(v)
  end
  return string.format("%.3f", v)
end

-- The metric families, in the order they are written: name, type, help, and
-- the label names of their series.
local FAMILIES = {
  { "salesengine_records_extracted_total", "counter", "Records read from the source.", { "pipeline" } },
  { "salesengine_records_transformed_total", "counter", "Records the transform turned into rows.", { "pipeline" } },
  { "salesengine_records_loaded_total", "counter", "Records whose rows were loaded (or would be, in a dry run).",
    { "pipeline" } },
  { "salesengine_records_rejected_total", "counter",
    "Records rejected (transform or database), sent to the dead letter.", { "pipeline" } },
  { "salesengine_records_skipped_total", "counter", "Records the transform skipped (returned nil).", { "pipeline" } },
  { "salesengine_rows_inserted_total", "counter", "Rows inserted, by table.", { "pipeline", "table" } },
  { "salesengine_rows_updated_total", "counter", "Rows updated, by table.", { "pipeline", "table" } },
  { "salesengine_rows_unchanged_total", "counter", "Rows already up to date, by table.", { "pipeline", "table" } },
  { "salesengine_stage_duration_seconds", "gauge", "Seconds spent in each stage of the run.",
    { "pipeline", "stage" } },
  { "salesengine_http_requests_total", "counter",
    "HTTP attempts, by status code (or failure code when there was no response).", { "pipeline", "code" } },
  { "salesengine_http_retries_total", "counter", "HTTP attempts that were retried, by status or failure code.",
    { "pipeline", "code" } },
  { "salesengine_fetched_bytes_total", "counter", "Bytes of HTTP response bodies received.", { "pipeline" } },
  { "salesengine_run_duration_seconds", "gauge", "Seconds the salesengine process ran.", { "pipeline" } },
  { "salesengine_exit_code", "gauge", "Exit code of the run (0 ok; salesengine(1) lists the others).",
    { "pipeline" } },
  { "salesengine_last_run_timestamp_seconds", "gauge", "When the run ended (Unix time).", { "pipeline" } },
  { "salesengine_last_success_timestamp_seconds", "gauge",
    "When a run last ended with exit code 0 (Unix time; 0 if never); kept across failed runs.", { "pipeline" } },
}

-- The previous file's pipeline label and last success time, if any.
local function previous(path)
  local f = io.open(path, "r")
  if not f then
    return nil, 0
  end
  local text = f:read("a") or ""
  f:close()
  local name, t = text:match('\nsalesengine_last_success_timestamp_seconds{pipeline="(.-)"} (%S+)')
  return name, tonumber(t) or 0
end

-- The per-pipeline figures of the recorded summaries (several runs of one
-- pipeline are added up), in the order of first appearance.
local function per_pipeline()
  local order, by = {}, {}
  for _, s in ipairs(summaries) do
    local p = by[s.pipeline]
    if p == nil then
      p = { name = s.pipeline, counts = {}, tables = {}, table_order = {}, stages = {} }
      by[s.pipeline] = p
      order[#order + 1] = p
    end
    for _, k in ipairs({ "extracted", "transformed", "loaded", "rejected", "skipped" }) do
      p.counts[k] = (p.counts[k] or 0) + (s[k] or 0)
    end
    local names = {}
    for t in pairs(s.tables or {}) do
      names[#names + 1] = t
    end
    table.sort(names)
    for _, t in ipairs(names) do
      if p.tables[t] == nil then
        p.tables[t] = {}
        p.table_order[#p.table_order + 1] = t
      end
      for _, k in ipairs({ "inserted", "updated", "unchanged" }) do
        p.tables[t][k] = (p.tables[t][k] or 0) + (s.tables[t][k] or 0)
      end
    end
    for _, stage in ipairs({ "extract", "transform", "load" }) do
      p.stages[stage] = (p.stages[stage] or 0) + s.timings[stage .. "_s"]
    end
  end
  return order
end

-- Sorted keys of t.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

--- The text of the metrics file. run: {exit_code, seconds (the process's run
-- time), now (Unix time), pipelines (from per_pipeline), http (sys.http_stats()),
-- name (the pipeline label of process-wide series), last_success (Unix time or 0)}.
function M.format(run)
  local series = {}
  for _, f in ipairs(FAMILIES) do
    series[f[1]] = {}
  end
  local function add(name, values, v)
    table.insert(series[name], { values, v })
  end
  for _, p in ipairs(run.pipelines) do
    for k, v in pairs(p.counts) do
      add("salesengine_records_" .. k .. "_total", { pipeline = p.name }, v)
    end
    for _, t in ipairs(p.table_order) do
      for k, v in pairs(p.tables[t]) do
        add("salesengine_rows_" .. k .. "_total", { pipeline = p.name, table = t }, v)
      end
    end
    for _, stage in ipairs({ "extract", "transform", "load" }) do
      add("salesengine_stage_duration_seconds", { pipeline = p.name, stage = stage }, p.stages[stage] + 0.0)
    end
  end
  local me = { pipeline = run.name }
  for _, code in ipairs(sorted_keys(run.http.attempts)) do
    add("salesengine_http_requests_total", { pipeline = run.name, code = code }, run.http.attempts[code])
    add("salesengine_http_retries_total", { pipeline = run.name, code = code }, run.http.retries[code] or 0)
  end
  add("salesengine_fetched_bytes_total", me, run.http.bytes)
  add("salesengine_run_duration_seconds", me, run.seconds + 0.0)
  add("salesengine_exit_code", me, run.exit_code)
  add("salesengine_last_run_timestamp_seconds", me, run.now + 0.0)
  add("salesengine_last_success_timestamp_seconds", me, run.last_success + 0.0)
  local out = {}
  for _, f in ipairs(FAMILIES) do
    local list = series[f[1]]
    if #list > 0 then
      out[#out + 1] = "# HELP " .. f[1] .. " " .. f[3]
      out[#out + 1] = "# TYPE " .. f[1] .. " " .. f[2]
      for _, s in ipairs(list) do
        out[#out + 1] = f[1] .. labels(f[4], s[1]) .. " " .. number(s[2])
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

--- Writes the metrics of this process's run to path: through path.tmp.PID
-- and a rename, so the collector never reads half a file. exit_code: the
-- process's; seconds: how long it ran. The last success time and, when no
-- etl.run happened, the pipeline label are read back from the previous file.
-- Raises when the file cannot be written.
function M.write(path, exit_code, seconds)
  local old_name, last_success = previous(path)
  local now = sys.time()
  if exit_code == 0 then
    last_success = now
  end
  local pipelines = per_pipeline()
  local script = type(arg) == "table" and type(arg[0]) == "string" and arg[0]:match("([^/]+)$")
  local name = pipelines[1] and pipelines[1].name or old_name or (script and script:gsub("%.lua$", ""))
    or "salesengine"
  local text = M.format({ exit_code = exit_code, seconds = seconds, now = now, pipelines = pipelines,
    http = sys.http_stats(), name = name, last_success = last_success })
  local ok, err = atomic_file.write(path, path .. ".tmp." .. sys.getpid(), text)
  if not ok then
    error(err, 0)
  end
end

return M
