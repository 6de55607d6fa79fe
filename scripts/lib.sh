# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared set-up for scripts/test and scripts/demo; sourced, never run.
#
# It moves to the repository root (whatever the caller's cwd), installs what
# is missing from the system's package manager (apt-get on Debian/Ubuntu,
# brew on macOS; elsewhere it says what is needed and exits 2), and
# configures and builds Meson trees under build/. A machine that already has
# everything never touches the network: each package is checked first
# (dpkg-query / brew list / command -v), and `apt-get update` runs only when
# something has to be installed.

CORIO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$CORIO_ROOT" || exit 2

# What corio needs, by package manager. Keep the three lists in step with
# the dependencies in meson.build (DESIGN.md, "Dependencies").
CORIO_APT_PACKAGES=(meson ninja-build pkg-config g++ curl libspdlog-dev libfmt-dev doctest-dev liburing-dev
  libcli11-dev libbenchmark-dev libasio-dev libuv1-dev libssl-dev zlib1g-dev)
# Wanted, not required: clang with its sanitizer runtime builds the ASan
# tree (see corio_build_asan); names differ between releases, so these are
# installed one by one and a missing one is only reported. libhttp-parser-dev
# is the peer parser bench/micro_http compares with, when it is there; nginx:
# the HTTP client's tests against a real server (skipped without it).
CORIO_APT_OPTIONAL=(clang libclang-rt-dev libhttp-parser-dev nginx)
CORIO_BREW_PACKAGES=(meson ninja pkg-config spdlog doctest cli11 google-benchmark asio libuv openssl zlib)
CORIO_NEEDS="a C++20 compiler (GCC >= 12 or Clang >= 14), meson >= 0.63, ninja, pkg-config, spdlog, fmt,
  doctest, CLI11, Google Benchmark; optional: liburing, OpenSSL, zlib, Asio and libuv (bench peers)"
# Optional too: libkqueue-dev, the kqueue emulation over epoll, with which
# the kqueue backend builds and runs on Linux (Debian dropped it after
# buster; Ubuntu ships it).
CORIO_APT_OPTIONAL+=(libkqueue-dev)

# Options every tree gets: the whole project is built, so that a broken
# test, example or benchmark is caught at once.
CORIO_COMMON_OPTIONS=(-Dtests=true -Dexamples=true -Dbench=true)

corio_say() { printf '==> %s\n' "$*"; }

# Runs a command as root: directly when we are root, else through sudo.
corio_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "corio: need root to run: $*" >&2
    echo "corio: run this script as root or install sudo" >&2
    exit 2
  fi
}

# The tool a Debian package provides, when it is one: a tool installed some
# other way (pip's meson, a compiler in /usr/local) is good enough.
corio_apt_tool() {
  case "$1" in
    meson) echo meson ;;
    ninja-build) echo ninja ;;
    pkg-config) echo pkg-config ;;
    g++) echo g++ ;;
    *) echo "" ;;
  esac
}

corio_apt_installed() {
  local tool
  tool=$(corio_apt_tool "$1")
  if [ -n "$tool" ] && command -v "$tool" >/dev/null 2>&1; then return 0; fi
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# True when the package lists are there and do not have the package: an
# optional package this release lacks must not cost an apt-get update on
# every run.
corio_apt_unlisted() {
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null && ! apt-cache show "$1" >/dev/null 2>&1
}

corio_ensure_apt() {
  local missing=() p
  for p in "${CORIO_APT_PACKAGES[@]}"; do
    corio_apt_installed "$p" || missing+=("$p")
  done
  local optional=()
  for p in "${CORIO_APT_OPTIONAL[@]}"; do
    corio_apt_installed "$p" || corio_apt_unlisted "$p" || optional+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && [ "${#optional[@]}" -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  corio_as_root apt-get update -q
  if [ "${#missing[@]}" -gt 0 ]; then
    corio_say "installing with apt-get: ${missing[*]}"
    corio_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  for p in "${optional[@]}"; do
    corio_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" ||
      corio_say "optional package $p not installed (the sanitizer tree falls back to the default compiler)"
  done
}

corio_ensure_brew() {
  if ! command -v brew >/dev/null 2>&1; then
    echo "corio: Homebrew is needed on macOS (https://brew.sh), then: brew install ${CORIO_BREW_PACKAGES[*]}" >&2
    exit 2
  fi
  local missing=() p
  for p in "${CORIO_BREW_PACKAGES[@]}"; do
    brew list --versions "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    corio_say "installing with brew: ${missing[*]}"
    brew install "${missing[@]}"
  fi
  # Keg-only formulae (openssl, zlib) are not on pkg-config's default path.
  local keg
  for keg in openssl zlib; do
    if [ -d "$(brew --prefix "$keg" 2>/dev/null)/lib/pkgconfig" ]; then
      PKG_CONFIG_PATH="$(brew --prefix "$keg")/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    fi
  done
  export PKG_CONFIG_PATH
}

# Neither apt nor brew: go on only if everything is already there.
corio_check_other() {
  local ok=1 t
  for t in meson ninja pkg-config; do command -v "$t" >/dev/null 2>&1 || ok=0; done
  command -v c++ >/dev/null 2>&1 || ok=0
  if [ "$ok" -eq 1 ] && pkg-config --exists spdlog fmt doctest benchmark 2>/dev/null; then
    corio_say "no apt-get or brew here; the required tools and libraries are present, going on"
    return 0
  fi
  echo "corio: cannot install dependencies on this system ($(uname -s)) automatically." >&2
  echo "corio: install these with your package manager, then run this script again:" >&2
  printf '  %s\n' "$CORIO_NEEDS" >&2
  exit 2
}

corio_ensure_deps() {
  case "$(uname -s)" in
    Linux)
      if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
        corio_ensure_apt
      else
        corio_check_other
      fi
      ;;
    Darwin) corio_ensure_brew ;;
    *) corio_check_other ;;
  esac
  # Meson itself must be new enough for meson.build (Ubuntu 22.04 ships 0.61).
  local v
  v=$(meson --version 2>/dev/null || echo 0)
  if ! printf '0.63.0\n%s\n' "$v" | sort -V -C; then
    echo "corio: meson >= 0.63 is needed, this system has $v (try: python3 -m pip install --user meson)" >&2
    exit 2
  fi
}

# corio_configure DIR OPTION...: sets up DIR, or updates its options if it
# was set up before (a stale tree from another Meson version is wiped).
corio_configure() {
  local dir=$1
  shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson configure "$dir" "$@" >/dev/null && return 0
    corio_say "reconfiguring $dir from scratch"
    meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

# corio_build NAME DIR OPTION...: configure and build one tree; returns
# non-zero (without exiting) if either step fails.
corio_build() {
  local name=$1 dir=$2
  shift 2
  local start=$SECONDS
  corio_say "configuring $name ($dir)"
  corio_configure "$dir" "${CORIO_COMMON_OPTIONS[@]}" "$@" || return 1
  corio_say "building $name"
  ninja -C "$dir" || return 1
  corio_say "built $name in $((SECONDS - start)) s"
}

corio_build_release() { corio_build release build/release --buildtype=release; }
# The sanitizer tree is built with clang where clang can link a sanitized
# program: GCC 12 does not turn symmetric transfer into a tail call under
# ASan (even at -O2), so a loop of awaits that complete at once (a buffered
# reader over a full socket) grows the stack until it overflows; clang
# always emits it as a musttail call. -fno-sanitize=vptr: the system's
# libfmt is built without RTTI checks and trips UBSan's vptr check in
# spdlog's formatting, which is not ours to fix.
corio_asan_cxx() {
  if command -v clang++ >/dev/null 2>&1; then
    local probe
    probe=$(mktemp -d)
    printf 'int main() { return 0; }\n' > "$probe/p.cpp"
    if clang++ -fsanitize=address,undefined "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
      rm -rf "$probe"
      echo clang++
      return
    fi
    rm -rf "$probe"
  fi
  echo "${CXX:-c++}"
}

corio_build_asan() {
  local cxx
  cxx=$(corio_asan_cxx)
  # Meson cannot switch a tree's compiler: a tree made with another one
  # (recorded in build/asan/corio-cxx) is made anew.
  if [ -f build/asan/corio-cxx ] && [ "$(cat build/asan/corio-cxx)" != "$cxx" ]; then
    rm -rf build/asan
  fi
  # HACK(clang-14): UBSan's -fsanitize=function check on coroutine frames
  # makes the assembler fail with "Cannot represent a difference across
  # sections"; it is off for clang until a newer clang is the baseline.
  local no_check=-fno-sanitize=vptr fuzz=false
  # The libFuzzer targets (fuzz/) need clang; scripts/test runs them from this tree.
  [ "$cxx" = clang++ ] && no_check=-fno-sanitize=vptr,function fuzz=true
  CXX=$cxx corio_build "asan ($cxx)" build/asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dcpp_args=$no_check" "-Dfuzz=$fuzz" || return
  echo "$cxx" > build/asan/corio-cxx
}
