#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A stand-in for libkqueue (which Debian stopped packaging after buster), to
# compile and run corio's kqueue backend on Linux. It is our own small
# emulation over epoll of what corio uses (EVFILT_READ/WRITE with EV_CLEAR,
# EVFILT_USER, EVFILT_SIGNAL), written to kqueue's documented rules: passing
# under it shows the backend's logic, not that a real kqueue agrees. Not
# part of CI.
#
#   tests/kqueue_shim/build.sh /tmp/kqshim
#   PKG_CONFIG_PATH=/tmp/kqshim/lib/pkgconfig meson setup build/kq -Dkqueue=enabled
#   ninja -C build/kq && CORIO_BACKEND=kqueue meson test -C build/kq
set -euo pipefail
prefix=${1:?usage: build.sh PREFIX}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$prefix/include/sys" "$prefix/lib/pkgconfig"
cp "$here/include/sys/event.h" "$prefix/include/sys/"
${CXX:-c++} -std=c++20 -O2 -fPIC -Wall -Wextra -I"$prefix/include" -c "$here/kqshim.cpp" -o "$prefix/kqshim.o"
ar rcs "$prefix/lib/libkqueue.a" "$prefix/kqshim.o"
cat > "$prefix/lib/pkgconfig/libkqueue.pc" <<PC
prefix=$prefix
Name: libkqueue
Description: test-only kqueue emulation over epoll (not the real libkqueue)
Version: 0.0
Cflags: -I\${prefix}/include
Libs: \${prefix}/lib/libkqueue.a
PC
echo "kqueue stand-in in $prefix"
