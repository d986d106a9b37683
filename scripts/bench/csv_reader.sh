#!/usr/bin/env bash
# CSV reader throughput: generate a clean CSV (no quotes) and a quoted one of
# at least 100 MB each in /tmp, and run mfs-csvbench over them (reader alone,
# then with the text decoder under it). Prints MB/s per case.
#
#   scripts/bench/csv_reader.sh [BUILD_DIR] [SIZE_MB]
#
# BUILD_DIR defaults to build/; SIZE_MB to 128. The files are kept in /tmp
# (mfs-bench-clean.csv, mfs-bench-quoted.csv) and reused when big enough.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE_MB=${2:-128}
BENCH=$BUILD/tests/unit/mfs-csvbench
CLEAN=/tmp/mfs-bench-clean.csv
QUOTED=/tmp/mfs-bench-quoted.csv

if [ ! -x "$BENCH" ]; then
	meson compile -C "$BUILD" tests/unit/mfs-csvbench >/dev/null
fi

gen() {
	python3 - "$1" "$2" "$SIZE_MB" <<'PY'
import random, sys
path, kind, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
want = size_mb * 1000 * 1000
rnd = random.Random(42)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
with open(path, "w", newline="") as f:
    f.write("id,day,name,amount,category,ok,note\n")
    size, i = 0, 0
    while size < want:
        rows = []
        for _ in range(10000):
            w = rnd.choice(words)
            if kind == "clean":
                row = "%d,2024-%02d-%02d,%s %d,%d.%02d,%s,%s,plain note %d\n" % (
                    i, 1 + i % 12, 1 + i % 28, w, i % 97, i % 10000, i % 100,
                    words[i % 8], "true" if i % 3 else "false", i)
            else:
                note = "says \"\"hi\"\", then, more" if i % 5 == 0 else (
                    "two\nlines" if i % 17 == 0 else "note %d" % i)
                row = "%d,\"2024-%02d-%02d\",\"%s, %d\",\"%d.%02d\",\"%s\",true,\"%s\"\n" % (
                    i, 1 + i % 12, 1 + i % 28, w, i % 97, i % 10000, i % 100,
                    words[i % 8], note)
            rows.append(row)
            i += 1
        chunk = "".join(rows)
        f.write(chunk)
        size += len(chunk)
PY
}

for kind in clean quoted; do
	file=/tmp/mfs-bench-$kind.csv
	have=$(stat -c %s "$file" 2>/dev/null || echo 0)
	if [ "$have" -lt $((SIZE_MB * 1000 * 1000)) ]; then
		echo "generating $file ($SIZE_MB MB)..." >&2
		gen "$file" "$kind"
	fi
	"$BENCH" -n 5 "$file"
	"$BENCH" -n 3 --decode "$file"
done
