#!/usr/bin/env python3
"""Writes COUNT JSON pages of about SIZE bytes each into DIR (sales-like records)."""
import json
import sys

directory, prefix, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
record = {"id": 0, "date": "2024-03-01T12:00:00+00:00", "amount_usd": "1234.56", "region": " emea "}
per_record = len(json.dumps(record)) + 2
for page in range(count):
    n = max(1, size // per_record)
    rows = [dict(record, id=page * n + i) for i in range(n)]
    with open("%s/%s_%d.json" % (directory, prefix, page), "w") as f:
        json.dump({"sales": rows}, f)
