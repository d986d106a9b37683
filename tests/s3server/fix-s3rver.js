// Two bugs of @20minutes/s3rver 5.0.0 that make it answer differently from S3,
// fixed in node_modules after `npm ci` (idempotent; fails loudly if the code
// it expects is not there, e.g. after a version bump):
//
// 1. ListObjects with a delimiter skips every directory beneath a common
//    prefix, so a prefix that holds only deeper prefixes (a/b/c.csv listed at
//    "" gives no "a/") is never reported. Walk them; keys collapse into
//    CommonPrefixes as usual.
// 2. XML responses escape entities twice (its tagValueProcessor escapes, then
//    fast-xml-parser escapes again): a key "a&b" lists as "a&amp;amp;b".
'use strict'
const fs = require('fs')
const path = require('path')

const base = path.join(__dirname, 'node_modules', '@20minutes', 's3rver', 'lib')
const fixes = [
  {
    file: path.join(base, 'stores', 'filesystem.js'),
    from: `        if (delimiterEnc && dirPath.slice(prefixPath.length).indexOf(delimiterEnc) !== -1) {
          // avoid directories occurring beneath a common prefix
          return false
        }`,
    to: `        // medallionfs test fix: keys beneath a common prefix must be seen to report it`,
  },
  {
    file: path.join(base, 's3rver.js'),
    from: `        attributesGroupName: '@',
        tagValueProcessor:`,
    to: `        attributesGroupName: '@',
        processEntities: false, // medallionfs test fix: escape once
        tagValueProcessor:`,
  },
]

for (const f of fixes) {
  const text = fs.readFileSync(f.file, 'utf8')
  if (text.includes(f.to)) continue
  if (!text.includes(f.from)) {
    console.error(`fix-s3rver: expected code not found in ${f.file}`)
    process.exit(1)
  }
  fs.writeFileSync(f.file, text.replace(f.from, f.to))
}
