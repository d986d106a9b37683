// Time SQL in DuckDB (npm @duckdb/node-api, from tests/s3server), one thread,
// excluding Node.js start-up: prints {"ms": N, "rows": R} for the last statement.
//   node duckdb-time.js FILE.sql [NAME=VALUE]...   ({NAME} in the file is replaced)
'use strict'
const fs = require('fs')
const path = require('path')
const { DuckDBInstance } = require(path.join(__dirname, '..', '..', 'tests', 's3server',
  'node_modules', '@duckdb', 'node-api'))

async function main() {
  let sql = fs.readFileSync(process.argv[2], 'utf8')
  for (const kv of process.argv.slice(3)) {
    const eq = kv.indexOf('=')
    sql = sql.split('{' + kv.slice(0, eq) + '}').join(kv.slice(eq + 1))
  }
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  const t0 = process.hrtime.bigint()
  const reader = await conn.runAndReadAll(sql)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  process.stdout.write(JSON.stringify({ ms, rows: reader.getRows().length }) + '\n')
}
main().catch((err) => {
  console.error(`duckdb-time: ${err.message}`)
  process.exit(1)
})
