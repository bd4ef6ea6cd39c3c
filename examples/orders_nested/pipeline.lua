--- Example 2: nested JSON (orders with line items) into two tables in one transaction.
--
--   ORDERS_API_URL=http://host/orders WAREHOUSE_DSN=... salesengine examples/orders_nested/pipeline.lua
--
-- Each page is {"orders": [...], "next": URL or null}. transform.lua turns an
-- order into {orders = row, order_lines = rows}; both tables load in the same
-- transaction, parents first, and an order is loaded or rejected as a whole.
local se = require "salesengine"
local paginate = require "salesengine.paginate"
local etl = require "salesengine.etl"
local transform = require "transform"

etl.run {
  name = "orders",
  source = paginate.next_url { url = se.getenv("ORDERS_API_URL"), items = "orders", next = "next" },
  transform = transform.transform,
  sinks = {
    { name = "orders", table = "orders", key = { "order_id" } },
    { name = "order_lines", table = "order_lines", key = { "order_id", "line_no" } },
  },
  db = se.getenv("WAREHOUSE_DSN"),
  setup = etl.read_beside("schema.sql"),
  max_rejects = "2%",
}
