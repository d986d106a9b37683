"""Data the benchmarks lay out: a dirty sales CSV (quoted currency amounts,
two date formats, null tokens, stray spaces, ~1 % duplicate rows) and the
same rows split over many files. Deterministic for a seed."""
import random

HEADER = "Order ID,Customer,Amount,Order Date,Active,Note\n"
NAMES = ["  alice ", "BOB", "Carol", "dave  ", "Eve", "José", "N/A", "", "zoë"]
NOTES = ["ok", "\"fragile, handle with care\"", "\"says \"\"hi\"\"\"", "-", "NULL", "fine"]


def dirty_row(rng, i):
    amount = rng.randrange(1, 10_000_000) / 100
    a = rng.random()
    if a < 0.3:
        amt = "\"$%s\"" % format(amount, ",.2f")
    elif a < 0.6:
        amt = "$%.2f" % amount
    elif a < 0.65:
        amt = "N/A"
    else:
        amt = "%.2f" % amount
    y, m, d = 2020 + rng.randrange(5), rng.randrange(1, 13), rng.randrange(1, 29)
    date = "%04d-%02d-%02d" % (y, m, d) if rng.random() < 0.5 else "%02d/%02d/%04d" % (m, d, y)
    return "%d,%s,%s,%s,%s,%s\n" % (i, rng.choice(NAMES), amt, date,
                                    rng.choice(["yes", "no", "Y", "n"]), rng.choice(NOTES))


def write_dirty(path, mib, seed=1):
    """One dirty CSV of at least @mib MiB; returns its size in bytes."""
    rng = random.Random(seed)
    target = mib << 20
    size = 0
    i = 0
    with open(path, "w") as f:
        f.write(HEADER)
        batch = []
        while size < target:
            i += 1
            row = dirty_row(rng, i)
            batch.append(row)
            if rng.random() < 0.01:
                batch.append(row)  # ~1 % duplicates
            if len(batch) >= 10000:
                s = "".join(batch)
                f.write(s)
                size += len(s)
                batch = []
        f.write("".join(batch))
    return size


def write_rows(path, rows, seed):
    """A dirty CSV of @rows rows whose ids are unique to @seed."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write(HEADER)
        f.write("".join(dirty_row(rng, seed * 10_000_000 + i) for i in range(rows)))
