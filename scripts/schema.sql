-- The warehouse table the sales pipeline loads. pipeline.lua runs this on
-- every start; it changes nothing when the table already exists.
CREATE TABLE IF NOT EXISTS fact_sales (
    sale_id   text PRIMARY KEY,
    sale_date timestamptz NOT NULL,
    revenue   numeric(14, 2) NOT NULL,
    region    text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
