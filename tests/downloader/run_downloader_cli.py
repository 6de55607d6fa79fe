#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# The downloader's command line, tested from outside: the built
# examples/downloader run against a small HTTP/1.1 server in this process
# (threads, 127.0.0.1 port 0) that serves deterministic bodies with Range,
# and can fail on purpose (503 once, a reset mid-body once or always, a
# body that trickles). Each case checks exit codes, the files' bytes, their
# names, what the server saw, and the last line.
#
#   run_downloader_cli.py BUILD/examples/downloader [CASE...]
#
# Every run of the downloader is bounded (subprocess timeout); the server is
# shut down at the end. Exit 0 when every case passed.
import hashlib
import http.server
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DOWNLOADER = sys.argv[1] if len(sys.argv) > 1 else "build/release/examples/downloader"
ONLY = set(sys.argv[2:])
LAST_LINE = re.compile(r"^downloaded (\d+) files, (\d+) bytes in [0-9.]+ s \([0-9.]+ MB/s\), (\d+) failed$")


def body_for(path, size=None):
    """Deterministic bytes for a URL path: a SHA-256 stream of it."""
    if size is None:
        size = 50000 + int(hashlib.sha256(path.encode()).hexdigest()[:4], 16)
    out = bytearray()
    seed = hashlib.sha256(path.encode()).digest()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:size])


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (path, Range header or None)
        self.counts = {}

    def hit(self, path, rng):
        with self.lock:
            self.seen.append((path, rng))
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]


STATE = State()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reset(self):
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def send_body(self, data, allow_range=True):
        rng = self.headers.get("Range")
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if allow_range and m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path
        n = STATE.hit(path, self.headers.get("Range"))
        if path.startswith("/missing"):
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")
        elif path.startswith("/e503/") and n == 1:
            self.send_response(503)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"busy")
        elif path.startswith("/flaky/") and n == 1 or path.startswith("/reset-always/"):
            data = body_for(path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            time.sleep(0.05)
            self.reset()
        elif path.startswith("/slow/"):
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 20))
            self.end_headers()
            try:
                self.wfile.write(b"s" * 65536)
                for _ in range(600):  # at most 30 s
                    time.sleep(0.05)
                    self.wfile.write(b"s" * 1024)
                    self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
        else:
            self.send_body(body_for(path))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 drops SYNs of a burst of connects (1 s retransmit)


SERVER = Server(("127.0.0.1", 0), Handler)
BASE = "http://127.0.0.1:%d" % SERVER.server_address[1]


def run(args, timeout=30, **kw):
    return subprocess.run([DOWNLOADER] + args, capture_output=True, text=True, timeout=timeout, **kw)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def files_in(d):
    return sorted(os.listdir(d))


def last_line(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


def check(cond, what, proc=None):
    if not cond:
        extra = ""
        if proc is not None:
            extra = "\n  exit %s\n  stdout: %r\n  stderr: %r" % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        raise AssertionError(what + extra)


# --- cases -----------------------------------------------------------------------


def case_success_and_last_line(tmp):
    out = os.path.join(tmp, "out")
    paths = ["/files/a.bin", "/files/b.bin", "/files/c.bin"]
    p = run(["-c", "2", "-o", out] + [BASE + x for x in paths])
    check(p.returncode == 0, "exit 0 when all succeed", p)
    for x in paths:
        check(read(os.path.join(out, x.rsplit("/", 1)[1])) == body_for(x), "bytes of " + x)
    m = LAST_LINE.match(last_line(p.stdout))
    check(m is not None, "last line format", p)
    check(m.group(1) == "3" and m.group(3) == "0", "last line counts", p)
    check(int(m.group(2)) == sum(len(body_for(x)) for x in paths), "last line bytes", p)
    check(len(p.stdout.strip().splitlines()) == 4, "one line per file, then the summary", p)
    check(files_in(out) == ["a.bin", "b.bin", "c.bin"], "no temporary files left")


def case_failure_exit_1(tmp):
    out = os.path.join(tmp, "out")
    p = run(["-o", out, "--retries", "0", BASE + "/files/good.bin", BASE + "/missing/gone.bin"])
    check(p.returncode == 1, "exit 1 when one fails", p)
    check("FAILED " + BASE + "/missing/gone.bin" in p.stderr and "404" in p.stderr, "the failure names URL and status", p)
    m = LAST_LINE.match(last_line(p.stdout))
    check(m is not None and m.group(1) == "1" and m.group(3) == "1", "last line: 1 file, 1 failed", p)
    check(files_in(out) == ["good.bin"], "nothing under the failed name", p)


def case_usage_exit_2(tmp):
    bad = [
        [],  # no URL
        ["-c", "0", BASE + "/files/x"],
        ["--bogus", BASE + "/files/x"],
        ["-i", os.path.join(tmp, "does-not-exist.txt")],
        ["--timeout", "-1", BASE + "/files/x"],
    ]
    for args in bad:
        p = run(["-o", os.path.join(tmp, "out")] + args)
        check(p.returncode == 2, "exit 2 for %r" % args, p)
        check(p.stderr.strip() != "", "a message for %r" % args, p)
    afile = os.path.join(tmp, "plain-file")
    open(afile, "w").close()
    p = run(["-o", afile, BASE + "/files/x"])
    check(p.returncode == 2 and "output directory" in p.stderr, "exit 2 when -o is a file", p)
    p = run(["-o", os.path.join(tmp, "out"), "not a url"])
    check(p.returncode == 1 and "FAILED not a url" in p.stderr, "a bad URL is a failed download (exit 1)", p)


def case_names(tmp):
    out = os.path.join(tmp, "out")
    urls = [
        "/d/hello%20world%21.txt",  # percent-decoded
        "/",  # empty -> index.html
        "/dir/",  # empty again -> index.html.1
        "/x/same.bin",
        "/y/same.bin",  # collisions -> .1, .2
        "/z/same.bin",
        "/q/report.pdf?version=2",  # the query is not part of the name
        "/ctl/a%01b%7Fc",  # control bytes replaced
    ]
    p = run(["-c", "3", "-o", out] + [BASE + u for u in urls])
    check(p.returncode == 0, "names run succeeds", p)
    expect = {
        "hello world!.txt": "/d/hello%20world%21.txt",
        "index.html": "/",
        "index.html.1": "/dir/",
        "same.bin": "/x/same.bin",
        "same.bin.1": "/y/same.bin",
        "same.bin.2": "/z/same.bin",
        "report.pdf": "/q/report.pdf?version=2",
        "a_b_c": "/ctl/a%01b%7Fc",
    }
    check(files_in(out) == sorted(expect), "names: %r" % files_in(out), p)
    for name, path in expect.items():
        check(read(os.path.join(out, name)) == body_for(path), "bytes of %s (from %s)" % (name, path))


def case_traversal(tmp):
    root = os.path.join(tmp, "jail")
    out = os.path.join(root, "out")
    urls = [
        "/..%2F..%2Fescape1.txt",
        "/a/..%2f..%2fescape2.txt",
        "/a/%2E%2E%2F%2E%2E%2Fescape3.txt",
        "/a/..%5C..%5Cescape4.txt",
        "/a/%2e%2e",
        "/a/..",
        "/.hidden",
        "/a/%2Fetc%2Fpasswd",
    ]
    p = run(["-o", out] + [BASE + u for u in urls])
    names = files_in(out)
    check(files_in(root) == ["out"], "nothing written outside -o: %r" % files_in(root), p)
    check(not os.path.exists(os.path.join(tmp, "escape1.txt")), "no escape to the parent", p)
    for n in names:
        check("/" not in n and "\\" not in n and not n.startswith("."), "a safe name: %r" % n, p)
        check(os.path.isfile(os.path.join(out, n)), "a regular file: %r" % n, p)
    m = LAST_LINE.match(last_line(p.stdout))
    check(m is not None, "summary line", p)
    # Each URL either became a file inside DIR or failed cleanly (exit 1).
    check(int(m.group(1)) == len(names) and int(m.group(1)) + int(m.group(3)) == len(urls), "every URL accounted", p)
    check(p.returncode == (0 if int(m.group(3)) == 0 else 1), "exit code matches failures", p)


def case_input_file_comments(tmp):
    out = os.path.join(tmp, "out")
    lst = os.path.join(tmp, "list.txt")
    with open(lst, "w") as f:
        f.write("# a comment\n\n   \n%s/files/one.bin\n  # indented comment\n\t%s/files/two.bin  \n" % (BASE, BASE))
    p = run(["-o", out, "-i", lst, BASE + "/files/zero.bin"])
    check(p.returncode == 0, "-i with comments", p)
    check(files_in(out) == ["one.bin", "two.bin", "zero.bin"], "files from the command line and the list", p)


def case_input_read_lazily(tmp):
    # A FIFO: the first URL is downloaded before the second line is written,
    # which only works if the list is read as downloads need it.
    out = os.path.join(tmp, "out")
    fifo = os.path.join(tmp, "urls.fifo")
    os.mkfifo(fifo)
    proc = subprocess.Popen([DOWNLOADER, "-c", "1", "-o", out, "-i", fifo], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        with open(fifo, "w") as w:
            w.write(BASE + "/files/first.bin\n")
            w.flush()
            deadline = time.time() + 10
            while not os.path.exists(os.path.join(out, "first.bin")) and time.time() < deadline:
                time.sleep(0.02)
            check(os.path.exists(os.path.join(out, "first.bin")), "first download done before the list ends")
            w.write("# more\n" + BASE + "/files/second.bin\n")
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(proc.returncode == 0, "lazy list exit 0: %r %r" % (stdout, stderr))
    check(files_in(out) == ["first.bin", "second.bin"], "both downloaded")


def case_retry_resumes_with_range(tmp):
    out = os.path.join(tmp, "out")
    path = "/flaky/r.bin"
    p = run(["-o", out, "--retries", "2", BASE + path])
    check(p.returncode == 0, "a reset mid-body is retried", p)
    check(read(os.path.join(out, "r.bin")) == body_for(path), "bytes after the resume", p)
    ranges = [r for (x, r) in STATE.seen if x == path]
    check(len(ranges) == 2 and ranges[0] is None, "two requests: %r" % ranges, p)
    check(re.match(r"bytes=[1-9]\d*-$", ranges[1] or "") is not None, "the retry asks for the rest: %r" % ranges, p)
    check(files_in(out) == ["r.bin"], "no .part left", p)


def case_reset_always_fails_cleanly(tmp):
    out = os.path.join(tmp, "out")
    path = "/reset-always/z.bin"
    t0 = time.time()
    p = run(["-o", out, "--retries", "2", BASE + path])
    check(p.returncode == 1, "exit 1 after the retries", p)
    check("FAILED " + BASE + path in p.stderr, "a clear failure naming the URL", p)
    check(len([1 for (x, _) in STATE.seen if x == path]) == 3, "1 try + 2 retries", p)
    check(time.time() - t0 >= 0.7, "retries back off (0.25 s, 0.5 s)", p)
    check(not os.path.exists(os.path.join(out, "z.bin")), "nothing under the final name", p)


def case_503_retried(tmp):
    out = os.path.join(tmp, "out")
    path = "/e503/busy.bin"
    p = run(["-o", out, BASE + path])
    check(p.returncode == 0, "503 then 200: retried", p)
    check(read(os.path.join(out, "busy.bin")) == body_for(path), "bytes after the 503", p)


def case_resume_existing_part(tmp):
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    path = "/files/part.bin"
    data = body_for(path)
    with open(os.path.join(out, "part.bin.part"), "wb") as f:
        f.write(data[:30000])
    p = run(["-o", out, BASE + path])
    check(p.returncode == 0, "resume of an existing .part", p)
    check(read(os.path.join(out, "part.bin")) == data, "bytes after the resume", p)
    check(("/files/part.bin", "bytes=30000-") in STATE.seen, "asked for the rest with Range", p)
    check(files_in(out) == ["part.bin"], "the .part became the file", p)


def start_slow(tmp, extra=()):
    out = os.path.join(tmp, "out")
    proc = subprocess.Popen([DOWNLOADER, "-o", out, *extra, BASE + "/slow/big.bin"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part = os.path.join(out, "big.bin.part")
    deadline = time.time() + 10
    while time.time() < deadline and not (os.path.exists(part) and os.path.getsize(part) > 0):
        time.sleep(0.02)
    check(os.path.exists(part), "the slow download started")
    return proc, out


def interrupt(proc, before=None):
    """SIGINT to a running downloader (after `before()`, if given); its output.
    Killed if it is still running 10 s later or `before` failed."""
    try:
        if before:
            before()
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def case_sigint(tmp):
    proc, out = start_slow(tmp)
    stdout, stderr = interrupt(proc)
    check(proc.returncode == 130, "SIGINT: exit 130, got %s (%r)" % (proc.returncode, stderr))
    check(not os.path.exists(os.path.join(out, "big.bin")), "nothing incomplete under the final name")
    check(files_in(out) == ["big.bin.part"], "the partial file is kept for a resume: %r" % files_in(out))
    check(last_line(stdout).startswith("interrupted: downloaded 0 files"), "the last line says so: %r" % stdout)


def case_stats_and_sigquit(tmp):
    out = os.path.join(tmp, "out")
    p = run(["-q", "--stats", "-o", out, BASE + "/files/s.bin"])
    check(p.returncode == 0 and re.search(r"^loop: iterations=\d+ tasks_alive=", p.stderr, re.M), "--stats", p)
    proc, out2 = start_slow(os.path.join(tmp, "q"))

    def quit_first():
        proc.send_signal(signal.SIGQUIT)
        time.sleep(0.3)
        check(proc.poll() is None, "SIGQUIT does not kill it")

    stdout, stderr = interrupt(proc, quit_first)
    check(re.search(r"corio: \d+ live task\(s\)", stderr) is not None, "SIGQUIT prints the task dump: %r" % stderr)
    check(proc.returncode == 130, "then SIGINT stops it")


CASES = [(name[5:], fn) for name, fn in sorted(globals().items()) if name.startswith("case_")]


def main():
    if not os.access(DOWNLOADER, os.X_OK):
        print("downloader not found: " + DOWNLOADER)
        return 1
    threading.Thread(target=SERVER.serve_forever, daemon=True).start()
    failed = 0
    ran = 0
    for name, fn in CASES:
        if ONLY and name not in ONLY:
            continue
        ran += 1
        with tempfile.TemporaryDirectory(prefix="corio-dl-cli-") as tmp:
            t0 = time.time()
            try:
                fn(tmp)
                print("ok   %-32s %.2f s" % (name, time.time() - t0))
            except Exception:
                failed += 1
                print("FAIL %s" % name)
                traceback.print_exc()
    SERVER.shutdown()
    print("%d passed, %d failed" % (ran - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
