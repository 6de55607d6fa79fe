#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where an echo server's CPU goes, per echoed message: the kernel's socket
# data path (tcp_sendmsg, which on loopback also runs the peer's TCP
# receive path in softirq, and sock_recvmsg) against everything else (the
# event machinery: epoll or io_uring, syscall entry, file lookups, and user
# space). The socket part is the
# same work for every server that sends and receives the same bytes, so it
# is a floor: a server with no cost at all outside it would spend
#   floor = CPU per message x socket share
# and no runtime can be cheaper than that. The script prints, per server,
# its CPU per message, the shares, and the best ratio to epoll-c a perfect
# server could reach (epoll-c's CPU per message / that floor).
#
#   bench/profile_echo.sh                                  # 1000:64, corio (both backends), epoll-c, tokio
#   CONFIG=100:64:16 bench/profile_echo.sh corio-uring epoll-c tokio-ct
#
# Env: CONFIG=1000:64 (conns:size[:pipeline]) DURATION=8 (load seconds; the
#      profile is the 4 s from second 2) BUILD=build/release PEERS=/work/shared/peers
# Servers: corio-epoll corio-uring, and the names in the peers' peers-echo.txt.
# The server runs pinned to CPU 0 and the peers' echoload to CPU 1, as in
# compare-echo.sh. Needs perf (linux-perf) and root (or perf_event_paranoid
# <= 0) to see kernel symbols. perf samples the cpu-clock at 1999 Hz, which
# costs the server about 1 %: compare servers within one run of this script.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib.sh"
BUILD=${BUILD:-$root/build/release} PEERS=${PEERS:-/work/shared/peers}
CONFIG=${CONFIG:-1000:64} DURATION=${DURATION:-8}
IFS=: read -r conns size pipeline <<<"$CONFIG"
pipeline=${pipeline:-1}
servers=("$@")
((${#servers[@]})) || servers=(corio-epoll corio-uring epoll-c tokio-ct)
command -v perf >/dev/null || { echo "profile_echo: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
((DURATION >= 7)) || { echo "profile_echo: DURATION must be >= 7 (the profile is seconds 2-6)" >&2; exit 2; }

server_cmd() {  # NAME PORT -> the command line, run from $PEERS
  case $1 in
    corio-epoll) echo "$BUILD/examples/echo_server --port $2 --backend epoll" ;;
    corio-uring) echo "$BUILD/examples/echo_server --port $2 --backend uring" ;;
    *) awk -F'|' -v n="$1" '$1 == n {print $2}' "$PEERS/peers-echo.txt" | sed "s/{port}/$2/g" ;;
  esac
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null
work=$(mktemp -d /tmp/profile_echo.XXXXXX)
spid=
cleanup() {
  [[ -n $spid ]] && bench_stop "$spid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_lock profile_echo || exit 1
bench_pins

share() {  # PERF-DATA SYMBOL -> % of samples under SYMBOL (children included)
  perf report -i "$1" --children --sort sym -g none --stdio 2>/dev/null |
    awk -v s="$2" '$NF == s && $1 ~ /%$/ {sub("%", "", $1); print $1; exit}'
}
user_share() {  # PERF-DATA -> % of samples outside the kernel
  perf report -i "$1" --no-children --sort dso -g none --stdio 2>/dev/null |
    awk '$1 ~ /%$/ && $2 != "[kernel.kallsyms]" {sub("%", "", $1); u += $1} END {printf "%.1f\n", u}'
}

echo "config=$CONFIG duration=$DURATION"
results=()
for name in "${servers[@]}"; do
  cmd=$(server_cmd "$name" 0)
  [[ -n $cmd ]] || { echo "profile_echo: unknown server $name" >&2; exit 2; }
  port=$(bench_free_port)
  cmd=$(server_cmd "$name" "$port")
  (cd "$PEERS" && exec "${spin[@]}" bash -c "exec $cmd") >"$work/server.log" 2>&1 &
  spid=$!
  bench_wait_listening "$spid" "$port" || { echo "profile_echo: $name did not start" >&2; cat "$work/server.log" >&2; exit 1; }
  "${cpin[@]}" "$PEERS/build/echoload" --host 127.0.0.1 --port "$port" --connections "$conns" --size "$size" \
    --pipeline "$pipeline" --duration "$DURATION" >"$work/load.txt" &
  lpid=$!
  sleep 2
  t0=$(awk '{print $14+$15}' "/proc/$spid/stat") w0=$(date +%s%N)
  perf record -F 1999 -g -p "$spid" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1
  t1=$(awk '{print $14+$15}' "/proc/$spid/stat") w1=$(date +%s%N)
  wait "$lpid"
  bench_stop "$spid"; spid=
  rate=$(grep -o 'msgs_per_s=[0-9]*' "$work/load.txt" | cut -d= -f2)
  ccpu=$(grep -o 'client_cpu=[0-9]*' "$work/load.txt" | cut -d= -f2)
  [[ -n $rate && $rate -gt 0 ]] || { echo "profile_echo: $name: the load run failed" >&2; cat "$work/load.txt" "$work/server.log" >&2; exit 1; }
  send=$(share "$work/perf.data" tcp_sendmsg) recv=$(share "$work/perf.data" sock_recvmsg) user=$(user_share "$work/perf.data")
  line=$(awk -v n="$name" -v r="$rate" -v dt="$((t1 - t0))" -v wall="$(((w1 - w0) / 1000000))" -v hz="$(getconf CLK_TCK)" -v s="${send:-0}" \
    -v rv="${recv:-0}" -v u="$user" -v cc="$ccpu" 'BEGIN {
      cpu = dt / hz / (wall / 1000); us = cpu * 1e6 / r; tcp = s + rv
      printf "server=%s msgs_per_s=%d server_cpu=%.0f%% client_cpu=%s%% cpu_us_per_msg=%.3f sock_send=%.1f%% sock_recv=%.1f%% user=%.1f%% other=%.1f%% floor_us_per_msg=%.3f\n",
        n, r, cpu * 100, cc, us, s, rv, u, 100 - tcp - u, us * tcp / 100 }')
  echo "$line"
  results+=("$line")
done

# Each server's floor is the socket work as that server's run measured it;
# on a quiet machine they agree within a few percent.
printf '%s\n' "${results[@]}" | awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n = v["server"]; us[n] = v["cpu_us_per_msg"] + 0; fl[n] = v["floor_us_per_msg"] + 0
  } END {
    if (!("epoll-c" in us)) exit
    for (n in us)
      printf "%s: %.2fx epoll-c in messages per server-CPU-second; with no cost outside the socket path it would be %.2fx\n",
        n, us["epoll-c"] / us[n], us["epoll-c"] / fl[n]
  }'
