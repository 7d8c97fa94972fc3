#!/usr/bin/env bash
# Runs the runtime's tests (the property tests of every kernel against the
# plain ones included) for aarch64-unknown-linux-gnu under qemu-aarch64, so
# that the NEON kernels are checked on an x86-64 machine.
#
# Installs nothing. Needs: the Rust target (`rustup target add
# aarch64-unknown-linux-gnu`), the cross linker and C library
# (`apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross`) and
# user-mode QEMU (`apt-get install qemu-user`).
# Usage: runtime/cross-test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=("gcc-aarch64-linux-gnu (apt)")
command -v qemu-aarch64 >/dev/null || missing+=("qemu-user (apt)")
[ -d /usr/aarch64-linux-gnu/lib ] || missing+=("libc6-dev-arm64-cross (apt)")
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || missing+=("rustup target add aarch64-unknown-linux-gnu")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'cross-test.sh: missing %s\n' "${missing[@]}" >&2
  exit 2
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
exec cargo test -p runtime --target aarch64-unknown-linux-gnu "$@"
