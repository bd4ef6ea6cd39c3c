#!/usr/bin/env python3
"""Turns bench/run.sh's measurements into a markdown table (medians over the rounds).

    report.py RESULTS.jsonl UPDATES.jsonl N SMALL COMMAND [DOC]

Prints the table; with DOC, replaces the text between "<!-- bench:begin -->" and
"<!-- bench:end -->" in that file with it.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

TOOLS = {
    "a": "(a) psql floor",
    "a_skip": "(a') floor + skip WHERE",
    "b": "(b) paged: bench/pipeline/pipeline.lua",
    "b_single": "(b1) one body: scripts/pipeline.lua",
    "c": "(c) Python seed",
}
SCENARIOS = ["fresh", "changed", "same"]


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    py = subprocess.run(["/usr/bin/python3", "--version"], capture_output=True, text=True).stdout.strip()
    return "%d CPUs (nproc), %s, %.1f GiB RAM, Linux %s, %s, %s, %s (Debian's, for (c))" % (
        os.cpu_count(), model, mem_kib / 1024 / 1024, platform.release(), pg, nginx, py)


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    results, updates, n_big, n_small, command = sys.argv[1:6]
    doc = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
    rows = [json.loads(line) for line in open(results)]
    upd = [json.loads(line) for line in open(updates)]
    groups = {}
    for r in rows:
        groups.setdefault((r["tool"], r["n"], r["scenario"]), []).append(r)
    med = {k: {key: median(v, key) for key in ("wall", "cpu", "rss_kib", "server_cpu", "nginx_cpu", "idle")}
           for k, v in groups.items()}
    for k, v in groups.items():
        med[k]["runs"] = len(v)
        med[k]["upd"] = max(u["n_tup_upd"] for u in upd
                            if (u["tool"], u["n"], u["scenario"]) == k)
    out = []
    out.append("Measured %s UTC on: %s." % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine()))
    out.append("")
    out.append("Command: `%s`" % command)
    out.append("")
    out.append("| records | scenario | run | wall s | rows/s | CPU s (process) | CPU s (server) | idle core-s "
               "| peak RSS MiB | rows rewritten | runs | b/a | c/b |")
    out.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sizes = sorted({int(n_big), int(n_small)}, reverse=True)
    for n in sizes:
        for sc in SCENARIOS:
            for tool in TOOLS:
                m = med.get((tool, n, sc))
                if m is None:
                    continue
                ratio_ba = ratio_cb = ""
                a, b1 = med.get(("a", n, sc)), med.get(("b_single", n, sc))
                if tool in ("b", "b_single") and a:
                    ratio_ba = "%.2f" % (m["wall"] / a["wall"])
                if tool == "c" and b1:  # like with like: the seed and (b1) read the same one body
                    ratio_cb = "%.1f" % (m["wall"] / b1["wall"])
                out.append("| %s | %s | %s | %.2f | %s | %.2f | %.2f | %.2f | %.1f | %d | %d | %s | %s |" % (
                    "{:,}".format(n), sc, TOOLS[tool], m["wall"], "{:,}".format(int(n / m["wall"])), m["cpu"],
                    m["server_cpu"], m["idle"], m["rss_kib"] / 1024, m["upd"], m["runs"], ratio_ba, ratio_cb))
    nginx_total = sum(r["nginx_cpu"] for r in rows if r["tool"].startswith("b") or r["tool"] == "c")
    wall_total = sum(r["wall"] for r in rows if r["tool"].startswith("b") or r["tool"] == "c")
    out.append("")
    for n in sizes:
        for sc in SCENARIOS:
            walls = {}
            for r in rows:
                if r["n"] == n and r["scenario"] == sc:
                    walls.setdefault(r.get("round"), {})[r["tool"]] = r["wall"]
            for tool, label in (("b", "b/a"), ("b_single", "b1/a")):
                pairs = [w[tool] / w["a"] for _, w in sorted(walls.items()) if "a" in w and tool in w]
                if pairs:
                    out.append("- %s round by round (the same round), %s %s: %s (median %.2f)" % (
                        label, "{:,}".format(n), sc, ", ".join("%.2f" % x for x in pairs),
                        statistics.median(pairs)))
            # the seed against the same one body, the same round
            pairs = [w["c"] / w["b_single"] for _, w in sorted(walls.items()) if "c" in w and "b_single" in w]
            if pairs:
                out.append("- c/b1 round by round (the same round), %s %s: %s (median %.1f; %d of %d rounds "
                           "at 15 or more)" % ("{:,}".format(n), sc, ", ".join("%.1f" % x for x in pairs),
                                               statistics.median(pairs), sum(x >= 15 for x in pairs), len(pairs)))
    out.append("")
    steal = sum(r["steal"] for r in rows)
    out.append("Medians of the runs listed. CPU (process): user + sys of the measured command (psql, "
               "salesengine or python3); CPU (server): every PostgreSQL process of the cluster over the run. "
               "Rows rewritten: growth of `pg_stat_user_tables.n_tup_upd` for `fact_sales` (max over the runs). "
               "nginx used %.2f s of CPU over %.1f s of (b) and (c) runs. Idle core-s: core-seconds of the "
               "machine that no process used during the run. The hypervisor took %.2f core-s (steal) over all "
               "runs." % (nginx_total, wall_total, steal))
    text = "\n".join(out) + "\n"
    print(text)
    if doc:
        body = open(doc).read()
        begin, end = "<!-- bench:begin -->\n", "<!-- bench:end -->"
        i, j = body.index(begin) + len(begin), body.index(end)
        with open(doc + ".tmp", "w") as f:
            f.write(body[:i] + text + body[j:])
        os.replace(doc + ".tmp", doc)
        print("wrote the table into %s" % doc)


if __name__ == "__main__":
    main()
