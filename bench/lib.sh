# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# What the bench/*.sh scripts share about the servers they measure; sourced,
# never run. Every server is started by the script in the background and
# stopped by its PID (never by name: other people's servers run on this
# machine too), so the helpers below take PIDs.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   port=$(bench_free_port)
#   "$server" --port "$port" & spid=$!
#   bench_wait_listening "$spid" "$port" || { echo "did not start" >&2; ...; }
#   ...
#   bench_stop "$spid"
#
# Nothing here changes the caller's options (set -e/-u/pipefail): each
# helper returns a status and prints nothing but its answer.

# A TCP port free on 127.0.0.1 right now (the kernel's pick for port 0).
bench_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until PID accepts on 127.0.0.1:PORT, checking every 0.1 s at most
# TRIES times (default 100). 0 once a connect succeeds; 1 if PID died or
# the tries ran out. A PID of 0 is not checked for life.
bench_wait_listening() {
  local pid=$1 port=$2 tries=${3:-100} _
  for _ in $(seq "$tries"); do
    if [[ $pid != 0 ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Stops PID: SIGTERM, up to SECONDS (default 5) for it to exit, then
# SIGKILL; reaps it if it is this shell's child.
bench_stop() {
  local pid=$1 tenths=$((${2:-5} * 10)) _
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# Takes the peers' benchmark lock on fd 9 (the harness's scripts take the
# same one), so that two benchmarks never share the CPUs. NAME is for the
# message when it is held for 900 s.
bench_lock() {
  exec 9>/tmp/peers-bench.lock
  flock -w 900 9 && return 0
  echo "$1: /tmp/peers-bench.lock is held (another benchmark?)" >&2
  return 1
}

# Sets the arrays spin (the server's CPU, SERVER_CPU=0) and cpin (the
# client's, CLIENT_CPU=1) to taskset prefixes, both empty with NOPIN=1.
# shellcheck disable=SC2034  # the arrays are the caller's
bench_pins() {
  if [[ -n "${NOPIN:-}" ]]; then
    spin=() cpin=()
  else
    spin=(taskset -c "${SERVER_CPU:-0}") cpin=(taskset -c "${CLIENT_CPU:-1}")
  fi
}
