// Run many SQL statements in one DuckDB instance (npm @duckdb/node-api, one
// thread) and print one JSON array: per statement either
// {"columns": [{"name", "type"}], "rows": [[...]]} with values as DuckDB
// renders them to text (NULL as null), or {"error": "message"}.
// Used by tests/mount/test_gold_duckdb.py so that DuckDB starts once.
//   node duckdb-batch.js < statements.json      (a JSON array of strings)
'use strict'
const { DuckDBInstance } = require('@duckdb/node-api')

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', (c) => chunks.push(c))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    process.stdin.on('error', reject)
  })
}

async function main() {
  const statements = JSON.parse(await readStdin())
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  const out = []
  for (const sql of statements) {
    try {
      const reader = await conn.runAndReadAll(sql)
      const columns = reader.columnNames().map((name, i) => ({
        name,
        type: reader.columnType(i).toString(),
      }))
      const rows = reader.getRows().map((row) => row.map((v) => (v === null ? null : String(v))))
      out.push({ columns, rows })
    } catch (err) {
      out.push({ error: String(err.message) })
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}
main().catch((err) => {
  console.error(`duckdb-batch: ${err.message}`)
  process.exit(1)
})
