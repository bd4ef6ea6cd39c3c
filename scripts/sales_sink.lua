--- Where the sales pipeline loads: the one definition of the sales sink,
-- required by scripts/pipeline.lua, the incremental example, the benchmark
-- and the test pipelines. Each sale becomes one row of fact_sales keyed by
-- sale_id; a re-sent sale updates its revenue, and loaded_at is set by the
-- database on every load.
--
--   sink = require("sales_sink")()                           -- as it is
--   sink = require("sales_sink")({ skip_unchanged = true })  -- with more sink options
--
-- Adding a column: list it in columns here (and in update if a re-sent sale
-- may change it), return it from transform.lua, and add it to schema.sql.
return function(extra)
  local sink = {
    table = "fact_sales",
    key = { "sale_id" },
    columns = { "sale_id", "sale_date", "revenue", "region" },
    update = { "revenue" },
    set = { loaded_at = "now()" },
  }
  for name, value in pairs(extra or {}) do
    sink[name] = value
  end
  return sink
end
