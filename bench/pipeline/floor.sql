-- The floor (a) of the end-to-end benchmark: PostgreSQL's own ingest cost for
-- the same rows, already transformed. One session: \copy into a temporary
-- staging table, then one INSERT ... SELECT DISTINCT ON ... ON CONFLICT DO
-- UPDATE (the last occurrence of an id wins, as in the pipeline).
--   psql -X [-v where='WHERE ...'] -f floor.sql < rows.tsv
\set ON_ERROR_STOP 1
\if :{?where}
\else
\set where ''
\endif
BEGIN;
CREATE TEMP TABLE stage (sale_id text, sale_date timestamptz, revenue numeric(14, 2), region text,
                         seq integer) ON COMMIT DROP;
\copy stage FROM pstdin
INSERT INTO fact_sales AS t (sale_id, sale_date, revenue, region)
SELECT DISTINCT ON (sale_id) sale_id, sale_date, revenue, region FROM stage ORDER BY sale_id, seq DESC
ON CONFLICT (sale_id) DO UPDATE SET revenue = EXCLUDED.revenue, loaded_at = now() :where;
COMMIT;
