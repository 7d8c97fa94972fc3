#!/usr/bin/env bash
# Counts the instructions one image takes on AArch64 (the NEON kernels),
# under qemu-aarch64 with an instruction-counting TCG plugin: the small
# DCGAN of the benchmark, then the shipped dcgan-digits
# (runtime/examples/marked_generate.rs). QEMU models no cycles, so these
# are instructions, not time; they compare kernel versions exactly.
#
# Needs what runtime/cross-test.sh needs, plus gcc and the plugin's source,
# the counter the firmware figures use (see docs/microcontrollers.md):
# QEMU_INSNCOUNT, default ../shared/tools/qemu-insncount/insncount.c as for
# firmware-example/ci.sh.
# Usage: runtime/cross-count.sh
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(realpath -m "${QEMU_INSNCOUNT:-../shared/tools/qemu-insncount/insncount.c}")
if [ ! -f "$src" ]; then
  echo "cross-count.sh: no plugin source at $src; set QEMU_INSNCOUNT to insncount.c" >&2
  exit 2
fi
out=target/cross-count
mkdir -p "$out"
gcc -O2 -shared -fPIC -I"$(dirname "$src")" -o "$out/libinsncount.so" "$src"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# A static, non-relocated binary: the marker addresses `nm` prints are the
# ones QEMU executes.
RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static" \
  cargo build --release --locked -p runtime --features std --example marked_generate \
  --target aarch64-unknown-linux-gnu --target-dir "$out/build"
elf=$out/build/aarch64-unknown-linux-gnu/release/examples/marked_generate
s=$(nm "$elf" | awk '$3=="bench_start"{print "0x"$1}')
e=$(nm "$elf" | awk '$3=="bench_stop"{print "0x"$1}')
qemu-aarch64 -plugin "$out/libinsncount.so,start=$s,stop=$e" -d plugin -D "$out/insn.log" "$elf"
awk '/interval 0:/ {print "small DCGAN, one image:", $4, "instructions"}
     /interval 1:/ {print "shipped dcgan-digits, one image:", $4, "instructions"}' "$out/insn.log"
