#!/usr/bin/env python3
"""SIGKILL a command (its whole process group) at a phase of an embed job.

  killer.py PHASE PREFIX DELAY -- CMD...
PHASE: index   PREFIX.ids.part0 exists and PREFIX.journal does not
       first   PREFIX.journal exists and holds no slot yet (the first batch runs)
       assemble PREFIX.npy.tmp exists
       random  DELAY seconds after the start
Prints "hit PHASE" or "missed PHASE" (the command ended first) and exits 0.
Polls every 0.5 ms: the phases of a small test job last a few ms."""
import os, signal, subprocess, sys, time

phase, prefix, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = sys.argv[sys.argv.index("--") + 1:]
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
t0 = time.monotonic()


def due():
    if phase == "index":
        return os.path.exists(prefix + ".ids.part0") and not os.path.exists(prefix + ".journal")
    if phase == "first":
        try:
            return os.path.getsize(prefix + ".journal") == 4096
        except OSError:
            return False
    if phase == "assemble":
        return os.path.exists(prefix + ".npy.tmp")
    return time.monotonic() - t0 >= delay


while p.poll() is None:
    if due():
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        print("hit", phase)
        sys.exit(0)
    time.sleep(0.0005)
print("missed", phase)
