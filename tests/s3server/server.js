// Loopback S3 server for medallionfs tests: @20minutes/s3rver, which verifies SigV4.
// Usage: node --openssl-legacy-provider server.js --port N --dir DIR [--bucket NAME]...
//        [--tls-key FILE --tls-cert FILE]   (serve https)
//        [--allow-mismatched-signatures]   (benchmarks against other clients only)
// Env: MFS_TEST_KEYPAIR=ACCESS_KEY_ID:SECRET adds a key pair besides S3RVER:S3RVER.
// Prints "listening 127.0.0.1:PORT" on stdout once it accepts connections.
'use strict'
const S3rver = require('@20minutes/s3rver')

const args = process.argv.slice(2)
let port = 0
let directory = null
let allowMismatchedSignatures = false
const buckets = []
let key = null
let cert = null
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (a === '--port') port = parseInt(args[++i], 10)
  else if (a === '--dir') directory = args[++i]
  else if (a === '--bucket') buckets.push({ name: args[++i], configs: [] })
  else if (a === '--tls-key') key = require('fs').readFileSync(args[++i])
  else if (a === '--tls-cert') cert = require('fs').readFileSync(args[++i])
  else if (a === '--allow-mismatched-signatures') allowMismatchedSignatures = true
  else {
    console.error(`server.js: unknown argument ${a}`)
    process.exit(2)
  }
}
if (!directory) {
  console.error('server.js: --dir is required')
  process.exit(2)
}

// An extra key pair, so tests can tell the access key from the secret in logs.
// From the environment, never the command line: "ACCESS_KEY_ID:SECRET".
if (process.env.MFS_TEST_KEYPAIR) {
  const AWSAccount = require('@20minutes/s3rver/lib/models/account')
  const sep = process.env.MFS_TEST_KEYPAIR.indexOf(':')
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(
    process.env.MFS_TEST_KEYPAIR.slice(0, sep),
    process.env.MFS_TEST_KEYPAIR.slice(sep + 1)
  )
}

const server = new S3rver({
  port,
  address: '127.0.0.1',
  directory,
  silent: true,
  allowMismatchedSignatures,
  vhostBuckets: true,
  configureBuckets: buckets,
  ...(key && cert ? { key, cert } : {}),
})
server.run().then(
  (addr) => {
    process.stdout.write(`listening ${addr.address}:${addr.port}\n`)
  },
  (err) => {
    console.error(`server.js: ${err.message}`)
    process.exit(1)
  }
)
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
