#!/usr/bin/env python3
"""Runs one command and appends one JSON line of measurements to a results file.

    measure.py RESULTS LABELS_JSON PGDATA NGINX_PIDFILE -- COMMAND ARGS...

Measured: wall seconds; the command's own CPU (user + sys of it and the children it waited for,
from wait4) and peak RSS (ru_maxrss); the PostgreSQL server's CPU over the run (every process of
the cluster: the postmaster, its live children, and the children it reaped, from /proc); the
nginx workers' CPU; the whole machine's idle and steal time over the run (/proc/stat: core-seconds
no process used, and taken by the hypervisor). The command's stdout and stderr go to RESULTS.log. A failing command makes
this script fail (exit 1) after recording nothing.
"""
import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def children_of(ppid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if int(stat_fields(int(name))[1]) == ppid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def own_cpu(pid):
    f = stat_fields(pid)
    return (int(f[11]) + int(f[12])) / TICK  # utime, stime


def server_cpu(pgdata):
    """CPU seconds used so far by the cluster: postmaster + reaped children + live children."""
    with open(os.path.join(pgdata, "postmaster.pid")) as f:
        pm = int(f.readline())
    f = stat_fields(pm)
    total = sum(int(x) for x in f[11:15]) / TICK  # utime stime cutime cstime
    for child in children_of(pm):
        try:
            total += own_cpu(child)
        except OSError:
            pass  # exited (and reaped: counted in cutime) meanwhile
    return total


def nginx_cpu(pidfile):
    if not pidfile or not os.path.exists(pidfile):
        return 0.0
    with open(pidfile) as f:
        master = int(f.read())
    total = own_cpu(master)
    for child in children_of(master):
        total += own_cpu(child)
    return total


def machine_times():
    """(idle, steal) core-seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[4]) / TICK, int(fields[8]) / TICK  # idle, steal


def main():
    results, labels, pgdata, nginx_pid = sys.argv[1:5]
    assert sys.argv[5] == "--"
    cmd = sys.argv[6:]
    s0, n0 = server_cpu(pgdata), nginx_cpu(nginx_pid)
    idle0, steal0 = machine_times()
    with open(results + ".log", "a") as log:
        log.write("### %s\n" % labels)
        log.flush()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    idle1, steal1 = machine_times()
    time.sleep(0.3)  # let the postmaster reap the backend
    s1, n1 = server_cpu(pgdata), nginx_cpu(nginx_pid)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write("measure.py: %s exited with %d (see %s.log)\n" % (" ".join(cmd), code, results))
        sys.exit(1)
    row = json.loads(labels)
    row.update(wall=wall, user=ru.ru_utime, sys=ru.ru_stime, cpu=ru.ru_utime + ru.ru_stime,
               rss_kib=ru.ru_maxrss, server_cpu=s1 - s0, nginx_cpu=n1 - n0, idle=idle1 - idle0,
               steal=steal1 - steal0)
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")
    print("%-60s wall %6.2fs cpu %6.2fs rss %7.1f MiB server %6.2fs nginx %5.2fs idle %5.2fs steal %4.2fs" % (
        labels, wall, row["cpu"], ru.ru_maxrss / 1024, row["server_cpu"], row["nginx_cpu"], row["idle"],
        row["steal"]))


if __name__ == "__main__":
    main()
