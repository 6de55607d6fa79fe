#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The echo comparison of issue 5 in one command: the peers' compare-echo.sh
# over the whole matrix with corio's echo_server (epoll and io_uring, one
# thread) as EXTRA_PEERS beside every peer, interleaved round by round, then
# the syscalls each server makes per echoed message.
#
#   bench/echo_matrix.sh                                   # the full matrix (about 35 minutes: 5 configs x 5 rounds x 10 servers x 7 s)
#   ROUNDS=1 DURATION=2 CONFIGS='1:64 100:64:16' bench/echo_matrix.sh
#   ONLY='epoll-c corio-epoll' CONFIGS='100:64' ROUNDS=3 SYSCALL_MSGS=0 bench/echo_matrix.sh
#
# Env: CONFIGS='1:64 100:64 1000:64 100:4096 100:64:16' (conns:size[:pipeline])
#      ROUNDS=5 DURATION=5 ONLY='names...' (peers-echo.txt names, corio-epoll, corio-uring)
#      EXTRA_PEERS (more NAME|CMD lines) BUILD=build/release PEERS=/work/shared/peers
#      SYSCALL_MSGS=100000 (0 skips the syscall count) SYSCALL_CONNS=100 SYSCALL_SIZE=64
#      SKIP_MATRIX=1 (syscalls only)
#
# Throughput tables come from the peers' summarize-echo.py (medians, ratios
# to epoll-c, and paired ratios: the median over rounds of the ratio within
# one round, the robust figure on this noisy machine). This script adds the
# same paired ratio for messages per server-CPU-second, the measure that
# separates servers in ping-pong, where the load generator saturates first.
#
# Syscalls: each server is started pinned to CPU 0 as in the harness,
# `strace -c -f` is attached to it, and the peers' load generator sends
# exactly SYSCALL_MSGS ping-pong messages (--max-msgs); calls / messages is
# the figure (a connection may have one message in flight beyond the count,
# so the error is below SYSCALL_CONNS / SYSCALL_MSGS). strace slows every
# syscall down, so the count is meaningful, the time is not.
#
# The harness writes its raw results next to itself; this runs a copy of its
# scripts (the binaries are the shared ones) so that ../shared stays
# untouched, and keeps the raw results under build/echo-matrix/.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
BUILD=${BUILD:-$root/build/release} PEERS=${PEERS:-/work/shared/peers}
export CONFIGS=${CONFIGS:-"1:64 100:64 1000:64 100:4096 100:64:16"}
export ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5}
SYSCALL_MSGS=${SYSCALL_MSGS:-100000} SYSCALL_CONNS=${SYSCALL_CONNS:-100} SYSCALL_SIZE=${SYSCALL_SIZE:-64}
server=$BUILD/examples/echo_server
[[ -x $server ]] || { echo "echo_matrix: build first ($server missing)" >&2; exit 2; }
[[ -x $PEERS/build/echoload ]] || { echo "echo_matrix: $PEERS/build/echoload missing (run $PEERS/build.sh)" >&2; exit 2; }

corio_peers="corio-epoll|$server --port {port} --backend epoll
corio-uring|$server --port {port} --backend uring"
export EXTRA_PEERS="$corio_peers${EXTRA_PEERS:+
$EXTRA_PEERS}"

work=$(mktemp -d /tmp/echo_matrix.XXXXXX)
spid= tpid=
cleanup() {
  [[ -n $tpid ]] && kill -INT "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
  [[ -n $spid ]] && bench_stop "$spid" 3
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$PEERS"/*.sh "$PEERS"/*.py "$PEERS"/peers-echo.txt "$work"/
ln -s "$PEERS/build" "$work/build"
ln -s "$PEERS/echo" "$work/echo"
keep=$root/build/echo-matrix
mkdir -p "$keep"

# The peers that take part: peers-echo.txt plus EXTRA_PEERS, filtered by ONLY.
names=() cmds=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  n=${line%%|*}
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $n "* ]]; then continue; fi
  names+=("$n")
  cmds+=("${line#*|}")
done < <(cat "$work/peers-echo.txt"; printf '%s\n' "$EXTRA_PEERS")

if [[ -z "${SKIP_MATRIX:-}" ]]; then
  "$work/compare-echo.sh" || exit 1
  raw=$(ls "$work"/results/echo-*.txt | tail -1)
  cp "$raw" "$keep/"
  echo "kept: $keep/$(basename "$raw")"
  echo
  /usr/bin/python3 - "$raw" "${BASELINE:-epoll-c}" <<'EOF'
import statistics, sys
path, base = sys.argv[1], sys.argv[2]
rows = {}
names, configs = [], []
for line in open(path):
    if not line.startswith("round="):
        continue
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if "FAILED" in kv or float(kv.get("server_cpu", 0)) <= 0:
        continue
    cfg = f"{kv['connections']}c {kv['size']}B" + (f" P{kv['pipeline']}" if kv.get("pipeline", "1") != "1" else "")
    names += [kv["name"]] if kv["name"] not in names else []
    configs += [cfg] if cfg not in configs else []
    # messages per second of server CPU time
    rows.setdefault((kv["name"], cfg), {})[kv["round"]] = float(kv["msgs_per_s"]) / (float(kv["server_cpu"]) / 100)
print(f"### Messages per server-CPU-second, paired ratio to {base}: median over rounds [min-max]\n")
print("| peer | " + " | ".join(configs) + " |")
print("|---|" + "---|" * len(configs))
for n in names:
    cells = []
    for c in configs:
        mine, ref = rows.get((n, c), {}), rows.get((base, c), {})
        rs = [mine[r] / ref[r] for r in mine if r in ref]
        med = statistics.median(mine.values()) if mine else 0
        cells.append(f"{med:,.0f}: {statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}]" if rs else "-")
    print(f"| {n} | " + " | ".join(cells) + " |")
print()
EOF
fi

((SYSCALL_MSGS > 0)) || exit 0
command -v strace >/dev/null || { echo "echo_matrix: strace is not installed; syscall counts skipped" >&2; exit 1; }
bench_pins
# Hold the harness's lock while measuring, as its own scripts do.
bench_lock echo_matrix || exit 1

echo "### Syscalls per echoed message ($SYSCALL_CONNS connections, ${SYSCALL_SIZE} B, ping-pong, $SYSCALL_MSGS messages, strace -c -f on the server)"
echo
echo "| server | syscalls / message | top calls (count / message) |"
echo "|---|---|---|"
status=0
for i in "${!names[@]}"; do
  name=${names[$i]}
  port=$(bench_free_port)
  scmd=${cmds[$i]//"{port}"/$port}
  (cd "$work" && exec "${spin[@]}" bash -c "exec $scmd") >"$work/server.log" 2>&1 &
  spid=$!
  if ! bench_wait_listening "$spid" "$port"; then
    echo "| $name | server did not start | |"
    status=1
  else
    strace -c -f -q -S calls -p "$spid" -o "$work/strace.txt" &
    tpid=$!
    sleep 1  # attached to every thread before the first message
    out=$("${cpin[@]}" "$PEERS/build/echoload" --port "$port" --connections "$SYSCALL_CONNS" --size "$SYSCALL_SIZE" \
          --duration 120 --max-msgs "$SYSCALL_MSGS")
    rc=$?
    kill -INT "$tpid"
    wait "$tpid" 2>/dev/null
    tpid=
    msgs=$(sed -n 's/.* msgs=\([0-9]*\) .*/\1/p' <<<"$out")
    if ((rc != 0)) || [[ -z $msgs ]] || ((msgs == 0)); then
      echo "| $name | load failed: $out | |"
      status=1
    else
      # Rows are "% seconds usecs/call calls [errors] syscall", sorted by calls.
      awk -v m="$msgs" -v name="$name" '
        $1 ~ /^[0-9.]+$/ && $NF != "total" && NF >= 5 { n++; call[n] = $NF; cnt[n] = $4; total += $4 }
        END {
          top = ""
          for (k = 1; k <= n && k <= 4; k++) top = top sprintf("%s%s %.2f", (k > 1 ? ", " : ""), call[k], cnt[k] / m)
          printf "| %s | %.2f | %s |\n", name, total / m, top
        }' "$work/strace.txt"
    fi
  fi
  bench_stop "$spid" 3
  spid=
done
exit $status
