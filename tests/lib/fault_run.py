#!/usr/bin/env python3
"""Runs a command in the background for the fault specs, so a test can
signal it mid-run and still learn how it ended.

  fault_run.py DIR CMD [ARGS...]

Writes DIR/pid (the command's own pid, for kill) once it has started, sends
its output to DIR/stdout and DIR/stderr, and when it ends writes DIR/status:
"exit N" for a normal exit, "signal N" when a signal ended it. SIGINT is
reset to its default in the child (a background shell job ignores it), as
for a program started from a terminal. Files appear atomically (rename).
"""
import os
import signal
import subprocess
import sys


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    out_dir, argv = sys.argv[1], sys.argv[2:]
    with open(os.path.join(out_dir, "stdout"), "wb") as out, open(os.path.join(out_dir, "stderr"), "wb") as err:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        write_atomic(os.path.join(out_dir, "pid"), str(child.pid))
        rc = child.wait()
    write_atomic(os.path.join(out_dir, "status"), "exit %d" % rc if rc >= 0 else "signal %d" % -rc)


if __name__ == "__main__":
    main()
