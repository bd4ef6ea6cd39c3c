--- scripts/pipeline.lua with credentials, for the secret-redaction specs:
-- the API is called with a bearer token (SALES_API_TOKEN) and an api_key
-- query parameter (SALES_API_KEY); the warehouse DSN may hold a password.
--   SALES_REJECTS_FILE  dead-letter as JSON Lines instead of etl_rejects
--   SALES_MAX_REJECTS   as in scripts/pipeline.lua
--   SALES_CA_FILE       PEM bundle to verify an HTTPS API with
local se = require "salesengine"
local etl = require "salesengine.etl"
local http = require "salesengine.http"

local root = se.getenv("SE_SOURCE_DIR")
package.path = root .. "/scripts/?.lua;" .. package.path
local transform = require "transform"

local api = http.new {
  bearer = se.getenv("SALES_API_TOKEN"),
  query = { api_key = se.getenv("SALES_API_KEY") },
  retry = { attempts = 2, base_delay = 0.05, jitter = "none" },
  ca_file = os.getenv("SALES_CA_FILE"),
}

local rejects_file = os.getenv("SALES_REJECTS_FILE")

etl.run {
  name = "sales_secret",
  source = etl.once(function()
    return api:get_json(se.getenv("SALES_API_URL"))
  end),
  records = "sales",
  transform = transform.transform,
  key = "id",
  sink = require("sales_sink")(),
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("../../../scripts/schema.sql"),
  max_rejects = os.getenv("SALES_MAX_REJECTS"),
  rejects = rejects_file and { file = rejects_file } or nil,
}
