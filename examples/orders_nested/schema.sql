-- Orders and their line items: two tables, loaded together.
CREATE TABLE IF NOT EXISTS orders (
    order_id      bigint      PRIMARY KEY,
    customer_id   text        NOT NULL,
    customer_name text        NOT NULL,
    placed_at     timestamptz NOT NULL,
    line_count    integer     NOT NULL
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id   bigint        NOT NULL REFERENCES orders (order_id),
    line_no    integer       NOT NULL,
    sku        text          NOT NULL,
    qty        integer       NOT NULL CHECK (qty > 0),
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
