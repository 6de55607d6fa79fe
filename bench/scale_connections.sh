#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# How much user-space memory does an echo server spend per idle connection?
# For each server: start it pinned to CPU 0, read its VmRSS, open CONNS
# connections to it from PROCS client processes (bench/scale_connections,
# one 127.0.0.x source address each, pinned to CPU 1), check one echo on
# each, read VmRSS again with every connection idle, check a second echo on
# each (the idle ones are still served), then stop everything by PID.
#
#   bench/scale_connections.sh                      # corio epoll + uring, tokio, go; 19000 connections
#   CONNS=2000 bench/scale_connections.sh corio-epoll go
#
# Env: CONNS=19000 PROCS=4 BUILD=build/release PEERS=/work/shared/peers
#      TIMEOUT=180 (seconds allowed for each phase) NOPIN=1 (no taskset)
# Servers: corio-epoll corio-uring tokio go (tokio/go: the peers' builds),
# and on request corio-uring-ready / corio-epoll-pooled (echo_server's other
# read path: --recv ready under io_uring, --recv pooled under epoll).
#
# The growth is VmRSS after minus before, divided by the connections that
# echoed; the 1M projection is before + 1e6 x growth per connection. VmRSS
# is user space only: the kernel's socket buffers and epoll/io_uring entries
# are not in it. Exit status 0 when every connection of every server echoed
# twice without an error.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
CONNS=${CONNS:-19000} PROCS=${PROCS:-4} TIMEOUT=${TIMEOUT:-180}
BUILD=${BUILD:-$root/build/release} PEERS=${PEERS:-/work/shared/peers}
servers=("$@")
((${#servers[@]})) || servers=(corio-epoll corio-uring tokio go)
client=$BUILD/bench/scale_connections
[[ -x $client ]] || { echo "scale_connections: build it first ($client missing)" >&2; exit 2; }

# The whole test lives inside one process's open-file limit; raise the soft
# limit to the hard one, which the servers and clients inherit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
limit=$(ulimit -n)
if ((CONNS + 64 > limit)); then
  echo "scale_connections: CONNS=$CONNS does not fit the open-file limit $limit (hard $(ulimit -Hn))" >&2
  exit 2
fi
bench_pins

server_cmd() {
  case $1 in
    corio-epoll) echo "$BUILD/examples/echo_server --port $2 --backend epoll" ;;
    corio-uring) echo "$BUILD/examples/echo_server --port $2 --backend uring" ;;
    corio-uring-ready) echo "$BUILD/examples/echo_server --port $2 --backend uring --recv ready" ;;
    corio-epoll-pooled) echo "$BUILD/examples/echo_server --port $2 --backend epoll --recv pooled" ;;
    tokio) echo "$PEERS/build/tokio_echo $2" ;;
    go) echo "$PEERS/build/go_echo $2" ;;
    *) return 1 ;;
  esac
}

work=$(mktemp -d /tmp/scale_connections.XXXXXX)
pids=()  # every process this script started and has not reaped
cleanup() {
  for p in "${pids[@]}"; do bench_stop "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Other benchmarks on this machine queue on the peers' lock instead of
# sharing the CPUs with this one.
bench_lock scale_connections || exit 1

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

# Waits until every client's output has a line starting with $1 (or the
# client died); TIMEOUT bounds it.
wait_for_lines() {
  local word=$1 deadline=$((SECONDS + TIMEOUT)) done_
  while ((SECONDS < deadline)); do
    done_=0
    for i in "${!cpids[@]}"; do
      if grep -q "^$word " "$work/client.$i" || ! kill -0 "${cpids[$i]}" 2>/dev/null; then ((done_++)); fi
    done
    ((done_ == ${#cpids[@]})) && return 0
    sleep 0.2
  done
  echo "scale_connections: clients did not all report '$word' within ${TIMEOUT}s" >&2
  return 1
}
sum_field() {  # sum of field $2 over the clients' lines starting with $1
  cat "$work"/client.* | awk -v w="$1" -v f="$2" '$1 == w { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } } END { print s + 0 }'
}

rows=() failed=0
for name in "${servers[@]}"; do
  port=$(bench_free_port)
  cmd=$(server_cmd "$name" "$port") || { echo "scale_connections: unknown server '$name'" >&2; exit 2; }
  read -r -a argv <<<"$cmd"
  [[ -x ${argv[0]} ]] || { echo "scale_connections: $name: ${argv[0]} is not built, skipped" >&2; failed=1; continue; }
  "${spin[@]}" "${argv[@]}" >"$work/server.log" 2>&1 &
  spid=$!
  pids=("$spid")
  if ! bench_wait_listening "$spid" "$port"; then
    echo "scale_connections: $name did not accept on port $port:" >&2
    cat "$work/server.log" >&2
    failed=1
    bench_stop "$spid"; pids=()
    continue
  fi
  sleep 0.5
  rss0=$(rss_kib "$spid")

  rm -f "$work"/client.*
  cpids=()
  per=$((CONNS / PROCS)) extra=$((CONNS % PROCS))
  t0=$SECONDS
  for ((i = 0; i < PROCS; i++)); do
    n=$((per + (i < extra ? 1 : 0)))
    # Clients exit by themselves after --hold if this script dies.
    "${cpin[@]}" "$client" --port "$port" --source "127.0.0.$((2 + i))" --connections "$n" \
      --timeout 30 --hold $((TIMEOUT * 3)) >"$work/client.$i" 2>&1 &
    cpids+=($!)
    pids+=($!)
  done
  wait_for_lines ready
  connect_s=$((SECONDS - t0))
  sleep 1  # let the server finish what the last echoes started
  rss1=$(rss_kib "$spid") nfd=$(fds "$spid")
  ok1=$(sum_field ready ok) err1=$(sum_field ready errors)

  for p in "${cpids[@]}"; do kill -USR1 "$p" 2>/dev/null; done
  wait_for_lines again
  ok2=$(sum_field again ok) err2=$(sum_field again errors)
  rss2=$(rss_kib "$spid")

  for p in "${cpids[@]}"; do bench_stop "$p"; done
  bench_stop "$spid"
  pids=()
  grep -h first_error "$work"/client.* >&2
  if ((ok1 != CONNS || ok2 != CONNS || err1 + err2 > 0)); then failed=1; fi

  per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$ok1" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "n/a" }')
  proj=$(awk -v a="$rss0" -v b="$rss1" -v n="$ok1" 'BEGIN { if (n > 0) printf "%.2f", (a * 1024 + (b - a) * 1024 / n * 1e6) / 2^30; else print "n/a" }')
  echo "name=$name connections=$CONNS echoed=$ok1 errors=$err1 echoed_again=$ok2 errors_again=$err2 server_fds=$nfd" \
    "rss_before_kib=$rss0 rss_idle_kib=$rss1 rss_after_second_kib=$rss2 bytes_per_conn=$per_conn" \
    "projected_1m_gib=$proj connect_s=$connect_s"
  rows+=("| $name | $ok1/$CONNS | $((err1 + err2)) | $rss0 | $rss1 | $per_conn | $proj |")
done

echo
echo "### Idle connections: server RSS growth ($CONNS connections from $PROCS processes, $(date -u +%FT%TZ))"
echo
echo "| server | echoed (x2) | errors | VmRSS before KiB | VmRSS idle KiB | bytes / connection | projected 1M conns GiB |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
