// Run one SQL statement with DuckDB (npm @duckdb/node-api) and print the
// result as JSON: {"columns": [{"name", "type"}], "rows": [[...]]}, values as
// DuckDB renders them to text (NULL as null). Used by the tests to point a
// real tool at the mount.
//   node duckdb-query.js "SELECT ..."
'use strict'
const { DuckDBInstance } = require('@duckdb/node-api')

async function main() {
  const sql = process.argv[2]
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  const reader = await conn.runAndReadAll(sql)
  const columns = reader.columnNames().map((name, i) => ({
    name,
    type: reader.columnType(i).toString(),
  }))
  const rows = reader.getRows().map((row) => row.map((v) => (v === null ? null : String(v))))
  process.stdout.write(JSON.stringify({ columns, rows }) + '\n')
}
main().catch((err) => {
  console.error(`duckdb-query: ${err.message}`)
  process.exit(1)
})
