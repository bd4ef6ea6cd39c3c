#!/usr/bin/env python3
"""Sales data for the end-to-end benchmark (bench/run.sh), deterministic.

    gen.py DIR N

Writes two versions of N partner-API sales records under DIR:
  DIR/v0  the fresh load;  DIR/v1  the same records with every amount changed.
Each version holds
  pages/pK.json   pages of 10,000 records {"sales": [...], "next": "pK+1.json"}
                  (next is null on the last page); served as /vX/pages/pK.json and, page-numbered,
                  as /vX/sales?page=K. p<last+1>.json is an empty page that ends page-numbered runs.
  all.json        every record in one {"sales": [...]} body (the seed API's single-response shape)
  rows.tsv        the same records already transformed as scripts/transform.lua does it, as COPY
                  text: sale_id, sale_date, revenue, region, seq (seq: the record's position; the
                  last occurrence of an id wins), for the psql floor
DIR/expected    distinct ids, for the run's sanity check.

Records: about 2% repeat an id seen earlier in the same page, with a new amount (the last one
wins); the repeats are all in odd pages (4% of their records), so half of the batches take the
dedupe path and half skip it. Amounts are JSON
numbers or strings ("1234.5", " 77.10 "); dates have a Z, an offset, no offset (UTC) or a
fraction; regions are untidy (" emea", "Apac ", "amer"). Fields the transform ignores
(customer_id, sku, quantity, channel) bring a record to about 160 bytes of JSON, as in the seed's API.
"""
import datetime
import json
import os
import random
import sys

PAGE = 10000
REGIONS = ["EMEA", "APAC", "AMER", "LATAM", "ANZ", "MEA"]
CHANNELS = ["online", "retail", "partner"]
BASE_DAY = 738886  # proleptic ordinal of 2024-01-01


def untidy(region, r):
    return [region, " " + region.lower(), region.capitalize() + " ", "  " + region + "  ", region.lower()][r % 5]


def date_text(i):
    """(raw API text, normalised text as transform.lua writes it) of record i's sale time."""
    day = BASE_DAY + (i * 7) % 900
    secs = (i * 7919) % 86400
    d = datetime.date.fromordinal(day)
    hms = "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
    ymd = d.isoformat()
    kind = i % 5
    if kind == 0:
        return ymd + "T" + hms + "Z", ymd + "T" + hms + "+00:00"
    if kind == 1:
        return ymd + "T" + hms + "+05:30", ymd + "T" + hms + "+05:30"
    if kind == 2:
        return ymd + "T" + hms, ymd + "T" + hms + "+00:00"
    if kind == 3:
        return ymd + "T" + hms + ".250-04:00", ymd + "T" + hms + ".250000-04:00"
    return ymd + " " + hms + "+09:00", ymd + "T" + hms + "+09:00"


def amount(cents, i):
    """(raw JSON value, normalised "D.CC") for an amount in cents."""
    text = "%d.%02d" % (cents // 100, cents % 100)
    kind = i % 4
    if kind == 0:
        return cents / 100, text  # a JSON number (shortest repr: 12.5, 1234.56)
    if kind == 1:
        return text, text
    if kind == 2:
        return " " + text + " ", text
    return (cents // 100 if cents % 100 == 0 else cents / 100), text


def records(n):
    """Yields (id number, position) of the n records in order."""
    rng = random.Random(20261127)
    next_new = 0
    ids = []
    for seq in range(n):
        page = seq // PAGE
        repeat = None
        if page % 2 == 0 and seq % PAGE > 0 and rng.random() < 0.04:
            repeat = ids[rng.randrange(page * PAGE, seq)]  # an id of this page (pages 1, 3, ...)
        if repeat is None:
            ident = next_new
            next_new += 1
        else:
            ident = repeat
        ids.append(ident)
        yield ident, seq


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    ids = [ident for ident, _ in records(n)]
    distinct = len(set(ids))
    pages = (n + PAGE - 1) // PAGE
    for version in (0, 1):
        vdir = os.path.join(out, "v%d" % version)
        os.makedirs(os.path.join(vdir, "pages"), exist_ok=True)
        recs, rows = [], []
        for seq, ident in enumerate(ids):
            raw_date, norm_date = date_text(ident)
            region = REGIONS[ident % len(REGIONS)]
            # A new amount for every occurrence and every version.
            cents = (ident * 7919 + seq * 31 + version * 104729) % 9999999 + 1
            raw_amount, norm_amount = amount(cents, seq)
            recs.append({"id": "S%08d" % ident, "date": raw_date, "amount_usd": raw_amount,
                         "region": untidy(region, seq), "customer_id": "C%06d" % (ident * 31 % 999983),
                         "sku": "SKU-%05d" % (ident % 50000), "quantity": ident % 9 + 1,
                         "channel": CHANNELS[ident % 3]})
            rows.append("S%08d\t%s\t%s\t%s\t%d\n" % (ident, norm_date, norm_amount, region, seq + 1))
        for p in range(pages + 1):
            chunk = recs[p * PAGE:(p + 1) * PAGE]
            nxt = "p%d.json" % (p + 2) if p + 1 < pages else None
            with open(os.path.join(vdir, "pages", "p%d.json" % (p + 1)), "w") as f:
                json.dump({"sales": chunk, "next": nxt}, f, separators=(",", ":"))
        with open(os.path.join(vdir, "all.json"), "w") as f:
            json.dump({"sales": recs}, f, separators=(",", ":"))
        with open(os.path.join(vdir, "rows.tsv"), "w") as f:
            f.writelines(rows)
    with open(os.path.join(out, "expected"), "w") as f:
        f.write("%d %d %d\n" % (n, distinct, pages))


if __name__ == "__main__":
    main()
