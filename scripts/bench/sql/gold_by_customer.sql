-- The benchmark's gold view (scripts/bench/suite.py) computed by DuckDB from the
-- raw files, with the same cleaning as sql/silver_clean.sql. {glob} is filled in.
WITH raw AS (
  SELECT * FROM read_csv('{glob}', all_varchar = true, header = true, filename = true)
),
clean AS (
  SELECT DISTINCT
    filename,
    CAST(NULLIF(trim("Order ID"), '') AS BIGINT) AS order_id,
    CASE WHEN trim("Customer") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Customer") END AS customer,
    TRY_CAST(replace(replace(trim("Amount"), '$', ''), ',', '') AS DECIMAL(18, 2)) AS amount,
    COALESCE(TRY_CAST(trim("Order Date") AS DATE), TRY_STRPTIME(trim("Order Date"), '%m/%d/%Y')::DATE) AS order_date,
    lower(trim("Active")) IN ('true', 'yes', 'y', 't') AS active,
    CASE WHEN trim("Note") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Note") END AS note
  FROM raw
)
SELECT customer, count(*) AS orders, sum(amount) AS revenue, max(order_date) AS last
FROM clean WHERE active GROUP BY customer ORDER BY customer
