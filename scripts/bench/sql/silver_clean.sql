-- The cleaning silver/ does to the benchmark's dirty CSV (scripts/bench/suite.py),
-- written for DuckDB: trim, SPEC §4 null tokens, numbers with currency and
-- thousands separators, two date formats, booleans, exact duplicates removed,
-- written back as CSV. {input} and {output} are filled in by the suite.
COPY (
  WITH raw AS (
    SELECT * FROM read_csv('{input}', all_varchar = true, header = true)
  ),
  nulled AS (
    SELECT
      CASE WHEN trim("Order ID") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Order ID") END AS order_id,
      CASE WHEN trim("Customer") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Customer") END AS customer,
      CASE WHEN trim("Amount") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Amount") END AS amount,
      CASE WHEN trim("Order Date") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Order Date") END AS order_date,
      CASE WHEN trim("Active") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Active") END AS active,
      CASE WHEN trim("Note") IN ('', 'NULL', 'null', 'N/A', 'NA', 'n/a', 'None', '-') THEN NULL ELSE trim("Note") END AS note
    FROM raw
  )
  SELECT DISTINCT
    CAST(order_id AS BIGINT) AS order_id,
    customer,
    CAST(replace(replace(amount, '$', ''), ',', '') AS DECIMAL(18, 2)) AS amount,
    COALESCE(TRY_CAST(order_date AS DATE), TRY_STRPTIME(order_date, '%m/%d/%Y')::DATE) AS order_date,
    CASE WHEN lower(active) IN ('true', 'yes', 'y', 't') THEN true
         WHEN lower(active) IN ('false', 'no', 'n', 'f') THEN false END AS active,
    note
  FROM nulled
) TO '{output}' (HEADER, DELIMITER ',');
