#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Runs each program of the asyncio tour (examples/tour) with small
# parameters and checks what it prints: exact lines where the output is
# deterministic, patterns (and loose bounds) where it depends on timing.
# do_some_work is also interrupted with SIGINT, twice: once before any task
# finished (all three must be cancelled) and once after the first finished
# (the other two must be); both must exit cleanly with status 130.
# fetch_many fetches /hello five times from the server it starts itself.
#
# Usage: run_tour.py BINDIR   (the build directory's examples/tour)
# Registered in tests/meson.build as the `tour` test; it takes about 2 s.
import os
import re
import signal
import subprocess
import sys
import threading
import time

TIMEOUT = 60
failures = []


def run(bindir, name, *args):
    """Runs a program to its end; returns (status, stdout lines)."""
    p = subprocess.run([os.path.join(bindir, name), *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.stderr:
        sys.stderr.write(p.stderr)
    return p.returncode, p.stdout.splitlines()


def check(label, ok, status, lines, why=""):
    if ok:
        print(f"ok    {label}")
        return
    failures.append(label)
    print(f"FAIL  {label}: {why} (exit status {status}); its output:")
    for line in lines:
        print(f"      | {line}")


def expect_exact(label, status, lines, expected, want_status=0):
    why = "unexpected output"
    if lines != expected:
        why += "; expected:\n" + "\n".join(f"      > {e}" for e in expected)
    check(label, status == want_status and lines == expected, status, lines, why)


def expect_patterns(label, status, lines, patterns, want_status=0):
    """Each line must match the pattern at its index; returns the matches."""
    matches = [re.fullmatch(p, l) for p, l in zip(patterns, lines)]
    ok = status == want_status and len(lines) == len(patterns) and all(matches)
    check(label, ok, status, lines, "expected lines matching:\n" + "\n".join(f"      > {p}" for p in patterns))
    return matches if ok else None


def averager(bindir):
    status, lines = run(bindir, "averager")
    expect_exact("averager", status, lines, ["10.0", "20.0", "15.5", "Result(count=3, average=15.5)"])


def thread_pool_map(bindir):
    status, lines = run(bindir, "thread_pool_map", "--iterations", 100000)
    texts = [f"text{i}" for i in range(5)]
    pats = [re.escape(t) for t in texts] + [r"\d+\.\d+"]
    expect_patterns("thread_pool_map: map, then submit + shutdown", status, lines, pats * 2)


def cpu_parallel(bindir):
    status, lines = run(bindir, "cpu_parallel", "--jobs", 6, "--size", 200000, "--threads", 2)
    t = r"\d+\.\d{3} s"
    expect_patterns("cpu_parallel: sequential, thread_pool, runtime agree", status, lines, [
        r"6 jobs, 2 threads",
        rf"sequential   {t}",
        rf"thread_pool  {t}  \(\d+\.\dx\)",
        rf"runtime      {t}  \(\d+\.\dx\)",
        r"results agree: yes",
    ])


WORK_LINES = ["Waiting:  1", "Waiting:  2", "Waiting:  3"]


def do_some_work(bindir):
    status, lines = run(bindir, "do_some_work", "--scale", 0.1)
    done = [f"{what}:  Done after {x}s" for what in ("Callback", "Task ret") for x in (1, 2, 3)]
    ok = status == 0 and lines[:-1] == WORK_LINES + done and len(lines) == 10
    m = re.fullmatch(r"TIME:  (\d+\.\d+)", lines[-1]) if lines else None
    # Concurrent: about the longest sleep (0.3 s), well under their sum (0.6 s).
    ok = ok and m is not None and 0.29 <= float(m.group(1)) < 0.55
    check("do_some_work: gathered in about the longest sleep", ok, status, lines,
          "expected the waits, callbacks, results and TIME ~0.3")


def interrupt(bindir, scale, after, results):
    """Starts do_some_work, sends SIGINT `after` seconds after its start
    (once it printed its three Waiting lines), collects its output."""
    start = time.monotonic()
    p = subprocess.Popen([os.path.join(bindir, "do_some_work"), "--scale", str(scale)], stdout=subprocess.PIPE,
                         text=True)
    lines = []
    for line in p.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Waiting:  3"):
            break
    time.sleep(max(0.0, start + after - time.monotonic()))
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    results[(scale, after)] = (p.returncode, lines + out.splitlines())


def do_some_work_interrupted(bindir):
    # Both runs at once, to keep the test short. The margins around the
    # deadlines are 0.5 s, for loaded machines and sanitizer builds.
    results = {}
    runs = [(1.0, 0.5), (1.0, 1.5)]
    threads = [threading.Thread(target=interrupt, args=(bindir, s, a, results)) for s, a in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (scale, after), cancelled in zip(runs, [[1, 2, 3], [2, 3]]):
        status, lines = results[(scale, after)]
        finished = [x for x in (1, 2, 3) if x not in cancelled]
        body = lines[3:-1]
        want_body = sorted([f"Callback:  Done after {x}s" for x in finished] +
                           [f"Cancelled:  do_some_work({x})" for x in cancelled])
        last = re.fullmatch(r"Interrupted after (\d+\.\d+) s: the tasks still running were cancelled",
                            lines[-1]) if lines else None
        ok = (status == 130 and lines[:3] == WORK_LINES and sorted(body) == want_body and last is not None and
              abs(float(last.group(1)) - after) < 0.4)
        check(f"do_some_work: SIGINT after {after} s cancels tasks {cancelled} and exits cleanly", ok, status, lines,
              "expected exit status 130, the waits, then: " + "; ".join(want_body) + "; Interrupted after ...")


def fetch_many(bindir):
    # Its own server on 127.0.0.1:0, each answer held back 0.2 s: the five
    # GETs overlap, so about 0.2 s in all, well under 5 x 0.2 s.
    status, lines = run(bindir, "fetch_many", "--delay", 0.2)
    m = expect_patterns("fetch_many: five GETs through one client_session", status, lines,
                        [r"Hello World:\d\d:\d\d:\d\d\.\d{3}"] * 5 + [r"TIME:  (\d+\.\d+)"])
    if m:
        took = float(m[5].group(1))
        check("fetch_many: the GETs overlap", 0.19 <= took < 0.9, status, lines, "TIME out of bounds")


def producer_consumer(bindir):
    for producers, consumers, items, capacity in [(3, 2, 7, 2), (2, 3, 5, 0)]:
        status, lines = run(bindir, "producer_consumer", "--producers", producers, "--consumers", consumers,
                            "--items", items, "--capacity", capacity)
        label = f"producer_consumer: {producers} producers, {consumers} consumers, capacity {capacity}"
        total = producers * items
        sent = sorted(l for l in lines if l.startswith("producer "))
        drained = {}
        for l in lines:
            m = re.fullmatch(r"consumer (\d+): channel closed and drained after (\d+) items", l)
            if m:
                drained[int(m.group(1))] = int(m.group(2))
        summary = re.fullmatch(rf"produced {total}, consumed {total}, at most (\d+) buffered \(capacity {capacity}\)",
                               lines[-1]) if lines else None
        ok = (status == 0 and len(lines) == producers + consumers + 2 and
              sent == [f"producer {p}: sent {items} items" for p in range(producers)] and
              sorted(drained) == list(range(consumers)) and sum(drained.values()) == total and
              "send after close: corio: send on a closed channel" in lines and summary is not None and
              int(summary.group(1)) <= capacity)
        check(label, ok, status, lines, "expected every item sent once, drained once, the buffer within bounds")


def coroutines_vs_threads(bindir):
    status, lines = run(bindir, "coroutines_vs_threads", "--count", 300, "--seconds", 0.2)
    row = r"\s+(\d+\.\d{3}) s\s+\d+\.\d MiB\s+-?\d+\.\d\d KiB"
    m = expect_patterns("coroutines_vs_threads: 300 sleepers both ways", status, lines, [
        r"300 sleepers of 0\.20 s each",
        r"\s+wall\s+peak RSS\s+per sleeper",
        r"baseline\s+\d+\.\d MiB",
        r"coroutines" + row,
        r"threads" + row,
    ])
    if m:
        # Each variant sleeps concurrently: about 0.2 s, never 300 x 0.2 s.
        walls = [float(m[3].group(1)), float(m[4].group(1))]
        check("coroutines_vs_threads: the sleepers overlap", all(0.19 <= w < 5 for w in walls), status, lines,
              "wall times out of bounds")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_tour.py BINDIR")
    bindir = sys.argv[1]
    # A child inherits an ignored SIGINT (a background job of a shell does),
    # and then corio::run() leaves Ctrl-C alone. A Python handler is reset to
    # the default action by exec, so the children get the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.monotonic()
    for test in (averager, thread_pool_map, cpu_parallel, do_some_work, do_some_work_interrupted, fetch_many,
                 producer_consumer, coroutines_vs_threads):
        try:
            test(bindir)
        except (OSError, subprocess.SubprocessError) as e:
            check(test.__name__, False, None, [], str(e))
    took = f"{time.monotonic() - start:.1f} s"
    print(f"tour: {len(failures)} check(s) FAILED ({took})" if failures else f"tour: every check passed ({took})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
