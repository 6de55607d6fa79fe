#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Syscalls the echo server makes per echoed message: strace -c -f attached
# to examples/echo_server while the peers' echoload sends a fixed number of
# messages, so the count is that of the steady state (start-up excluded,
# the connects and accepts of the run included).
#
#   bench/syscalls_per_message.sh [BACKEND] [CONNECTIONS] [MESSAGES] [SIZE]
#   bench/syscalls_per_message.sh uring 1000 200000 64
#
# Prints one line: backend= connections= msgs= syscalls= per_msg= and the
# strace table to stderr. Needs strace (ptrace of a sibling process: run as
# root or with kernel.yama.ptrace_scope=0) and /work/shared/peers/build/echoload
# (ECHOLOAD= overrides), and a release build in build/release.
# SERVER= picks another server binary, SERVER_ARGS= adds options to it
# (SERVER_ARGS='--recv ready' bench/syscalls_per_message.sh uring).
set -euo pipefail

backend=${1:-uring}
conns=${2:-1000}
msgs=${3:-200000}
size=${4:-64}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
server=${SERVER:-$root/build/release/examples/echo_server}
echoload=${ECHOLOAD:-/work/shared/peers/build/echoload}
port=${PORT:-$(bench_free_port)}

ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
server_pid=
strace_pid=
cleanup() {
  [[ -n $strace_pid ]] && kill -INT "$strace_pid" 2>/dev/null || true
  [[ -n $server_pid ]] && bench_stop "$server_pid"
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# SERVER_ARGS: more options for the server (echo_server --recv pooled|ready).
# shellcheck disable=SC2086
"$server" --backend "$backend" --port "$port" ${SERVER_ARGS:-} >"$work/server.log" 2>&1 &
server_pid=$!
if ! bench_wait_listening "$server_pid" "$port" 50; then
  echo "syscalls_per_message: the server did not accept on port $port:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
strace -c -f -q -p "$server_pid" -o "$work/strace.txt" &
strace_pid=$!
sleep 1  # strace attaches to every thread

"$echoload" --host 127.0.0.1 --port "$port" --connections "$conns" --size "$size" --pipeline 1 \
  --threads 1 --duration 120 --max-msgs "$msgs" >"$work/load.txt"
sleep 0.5
kill -INT "$strace_pid"
wait "$strace_pid" 2>/dev/null || true
strace_pid=

cat "$work/strace.txt" >&2
cat "$work/load.txt" >&2
sent=$(sed -n 's/.*[[:space:]]msgs=\([0-9]*\).*/\1/p' "$work/load.txt" | head -1)
calls=$(awk '$NF == "total" { print $4 }' "$work/strace.txt")
echo "backend=$backend connections=$conns msgs=$sent syscalls=$calls per_msg=$(awk -v c="$calls" -v m="$sent" 'BEGIN { printf "%.3f", c / m }')"
