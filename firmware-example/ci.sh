#!/usr/bin/env bash
# Builds the firmware example for every board and proves it on emulated hardware:
#   - the Pico firmware (thumbv6m-none-eabi) in release, and the refusal of a model too big for it;
#   - the Pico 2 firmware (thumbv8m.main-none-eabihf, Cortex-M33) in release;
#   - the QEMU firmware on mps2-an385 (thumbv6m-none-eabi, no FPU), mps2-an386
#     (thumbv7em-none-eabihf, Cortex-M4F) and mps2-an505 (thumbv8m.main-none-eabihf, Cortex-M33,
#     the Pico 2's core), run to completion, exact instructions per image;
#   - the RISC-V firmware (riscv32imc-unknown-none-elf, no FPU) on qemu-system-riscv32's virt
#     machine, likewise;
#   - the Raspberry Pi program (aarch64-unknown-linux-gnu) under qemu-aarch64;
#   - all of it for two models, the int8 and the f16 shipped generator by default;
#   - every frame's generator output (raw f32), grey image and dithered image bit-identical to
#     the host simulator's for the same model, seed and frame;
#   - a short latent walk (MICROGAN_WALK_STEPS) bit-identical on the same boards (all four QEMU
#     machines and the Raspberry Pi program), step by step;
#   - flash and RAM of each firmware (llvm-size);
#   - rustfmt and clippy (-D warnings) on the board crates, which the workspace commands skip.
# Installs what it needs (rustup targets, Debian packages) if missing; safe to run repeatedly.
#
# Settings (environment):
#   MICROGAN_MODEL      model to embed and check (default models/dcgan-digits-i8.safetensors)
#   MICROGAN_COMPARE_MODEL  a second model run on the same boards, its rows beside the first's
#                       (default models/dcgan-digits.safetensors, the f16 file; empty: none)
#   MICROGAN_BIG_MODEL  a model the Pico must refuse (default: a 3 MB generator of the classic
#                       MLP's shape, written by the sim's dev_model example into target/)
#   MICROGAN_FRAMES     frames per run (default 2)
#   WALK_STEPS          frames per segment of the latent walk checked (default 4; 0: no walk check)
#   QEMU_TIMEOUT        seconds per emulator run (default 300)
#   QEMU_INSNCOUNT      source of the instruction-counting TCG plugin
#                       (default ../shared/tools/qemu-insncount/insncount.c; without it the
#                       firmware's own SysTick count under -icount shift=0 is reported)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/firmware-ci
FRAMES=${MICROGAN_FRAMES:-2}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
MODEL=$(abs "${MICROGAN_MODEL:-models/dcgan-digits-i8.safetensors}")
COMPARE_MODEL=${MICROGAN_COMPARE_MODEL-models/dcgan-digits.safetensors}
[ -z "$COMPARE_MODEL" ] || COMPARE_MODEL=$(abs "$COMPARE_MODEL")
BIG_MODEL=$(abs "${MICROGAN_BIG_MODEL:-target/firmware-ci/mlp-shape.safetensors}")
PLUGIN_SRC=$(abs "${QEMU_INSNCOUNT:-../shared/tools/qemu-insncount/insncount.c}")
export MICROGAN_MODEL=$MODEL MICROGAN_FRAMES=$FRAMES

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ -f "$MODEL" ] || fail "no model at $MODEL (train and export one, or set MICROGAN_MODEL)"

step "tools"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null || missing+=(qemu-system-misc)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if ((${#missing[@]})); then
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf \
    riscv32imc-unknown-none-elf aarch64-unknown-linux-gnu >/dev/null
SIZE=$(command -v llvm-size || true)
if [ -z "$SIZE" ]; then
    rustup component add llvm-tools >/dev/null
    SIZE=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-size
fi
qemu-system-arm --version | head -1
qemu-system-riscv32 --version | head -1
mkdir -p "$OUT"
rm -f "$OUT"/*.pbm "$OUT"/*.pgm "$OUT"/*.f32 "$OUT"/*.png "$OUT"/*.log

PLUGIN=
if [ -f "$PLUGIN_SRC" ] && command -v gcc >/dev/null; then
    gcc -O2 -shared -fPIC -o "$OUT/libinsncount.so" "$PLUGIN_SRC" && PLUGIN=$OUT/libinsncount.so
fi
[ -n "$PLUGIN" ] && echo "instruction counts: TCG plugin ($PLUGIN_SRC)" \
    || echo "instruction counts: firmware SysTick under -icount shift=0 (plugin source not found)"

if [ -z "${MICROGAN_BIG_MODEL:-}" ]; then
    # Only its size matters here: untrained weights of the MLP generator's shape (3 MB in f16).
    rm -f "$BIG_MODEL"
    cargo run -q -p gan-sim --example dev_model -- "$BIG_MODEL" mlp
fi
if [ -f "$BIG_MODEL" ]; then
    step "the Pico refuses $(basename "$BIG_MODEL") at build time"
    if log=$(cd firmware-example/pico && MICROGAN_MODEL=$BIG_MODEL cargo build --release 2>&1); then
        fail "the Pico firmware built with $BIG_MODEL"
    fi
    grep -q "does not fit the Raspberry Pi Pico" <<<"$log" || { echo "$log"; fail "wrong refusal"; }
    grep "does not fit" <<<"$log"
fi

step "lint: board crates (outside the host workspace)"
for crate in pico pico2 qemu riscv rpi; do
    (cd "firmware-example/$crate" && cargo fmt --check && cargo clippy -q --release --all-targets -- -D warnings)
done
for target in thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    (cd firmware-example/qemu && cargo clippy -q --release --all-targets --target $target -- -D warnings)
done
echo "fmt and clippy clean"

step "build: Pico and Pico 2 (release, $(basename "$MODEL"))"
(cd firmware-example/pico && cargo build --release)
(cd firmware-example/pico2 && cargo build --release)
PICO_ELF=$ROOT/target/thumbv6m-none-eabi/release/gan-pico
PICO2_ELF=$ROOT/target/thumbv8m.main-none-eabihf/release/gan-pico2
AN385_ELF=$ROOT/target/thumbv6m-none-eabi/release/gan-qemu
AN386_ELF=$ROOT/target/thumbv7em-none-eabihf/release/gan-qemu
AN505_ELF=$ROOT/target/thumbv8m.main-none-eabihf/release/gan-qemu
RISCV_ELF=$ROOT/target/riscv32imc-unknown-none-elf/release/gan-riscv
RPI_BIN=$ROOT/target/aarch64-unknown-linux-gnu/release/gan-rpi

# Exact addresses of the markers (Thumb bit cleared; RISC-V code is 2-byte aligned) for the plugin.
marker() { printf '0x%x' $(($(nm "$1" | awk -v s="$2" '$3==s{print "0x"$1}') & ~1)); }

# The QEMU system boards: each one's firmware and emulator command line.
BOARDS=(an385 an386 an505 riscv32)
declare -A ELF=([an385]=$AN385_ELF [an386]=$AN386_ELF [an505]=$AN505_ELF [riscv32]=$RISCV_ELF)
declare -A MACHINE=(
    [an385]="qemu-system-arm -M mps2-an385 -cpu cortex-m3"
    [an386]="qemu-system-arm -M mps2-an386 -cpu cortex-m4"
    [an505]="qemu-system-arm -M mps2-an505 -cpu cortex-m33"
    [riscv32]="qemu-system-riscv32 -M virt -cpu rv32 -bios none"
)
QEMU_OPTS=(-nographic -icount shift=0 -semihosting-config enable=on,target=native)

# run_qemu BOARD: runs the board's firmware to completion in $OUT, counting its instructions.
run_qemu() {
    local name=$1 elf=${ELF[$1]} args=("${QEMU_OPTS[@]}")
    if [ -n "$PLUGIN" ]; then
        args+=(-plugin "$PLUGIN,start=$(marker "$elf" bench_start),stop=$(marker "$elf" bench_stop)"
            -d plugin -D "$OUT/$name-insn.log")
    fi
    step "run: $name (${MACHINE[$name]})"
    # shellcheck disable=SC2086 # the machine's command line splits into words on purpose
    (cd "$OUT" && timeout "$QEMU_TIMEOUT" ${MACHINE[$name]} "${args[@]}" -kernel "$elf") \
        | tee "$OUT/$name.log" || fail "$name exited with status ${PIPESTATUS[0]}"
    [ -z "$PLUGIN" ] || grep interval "$OUT/$name-insn.log"
}

# same_as_host DIR TARGET FRAMES LABEL: every frame TARGET wrote in DIR equals the host's.
same_as_host() {
    local dir=$1 target=$2 frames=$3 label=$4 n suffix f
    for ((n = 0; n < frames; n++)); do
        for suffix in -output.f32 -output.pgm -image.pbm; do
            f=$(printf '%03d%s' "$n" "$suffix")
            cmp "$dir/host-$f" "$dir/$target-$f" || fail "$label: $target-$f differs from the host's"
        done
    done
    echo "$label $target: $frames frames bit-identical to the host (output f32, grey, dithered image)"
}

# instructions NAME: first image's count, exact from the plugin or from SysTick.
instructions() {
    if [ -n "$PLUGIN" ]; then
        sed -n 's/^insncount: interval 0: \([0-9]*\) insns/\1/p' "$OUT/$1-insn.log"
    else
        sed -n 's/.* frame 0 .*: \([0-9]*\) instructions per image.*/\1/p' "$OUT/$1.log"
    fi
}

# size_row LABEL FIRMWARE TARGET ELF [INSNS MACS]: one row of the table. riscv-rt's `.stack`
# section (all RAM above the statics, counted as bss) is the stack, not static RAM.
size_row() {
    local text data bss stack insns=${5:--} per=-
    read -r text data bss _ < <("$SIZE" "$4" | tail -1)
    stack=$("$SIZE" -A "$4" | awk '$1 == ".stack" { print $2 }')
    [ "$insns" = - ] || per=$(awk -v i="$insns" -v m="$6" 'BEGIN { printf "%.1f", i / m }')
    echo "| $1 | $2 | $3 | $((text + data)) | $((data + bss - ${stack:-0})) | $insns | $per |"
}

# prove LABEL MODEL: the host reference, then the QEMU boards and the Raspberry Pi build with
# MODEL embedded, each frame compared with the host's; appends the model's rows to the table.
prove() {
    local label=$1 model=$2
    export MICROGAN_MODEL=$model
    rm -f "$OUT"/*.pbm "$OUT"/*.pgm "$OUT"/*.f32
    step "host reference ($label): gan-sim, $FRAMES frames"
    "$ROOT/target/debug/gan-sim" --model "$model" --frames "$FRAMES" --out "$OUT" --prefix host

    step "build ($label): QEMU AN385, AN386, AN505 and RISC-V virt, Raspberry Pi (release)"
    (cd firmware-example/qemu && cargo build --release)
    (cd firmware-example/qemu && cargo build --release --target thumbv7em-none-eabihf)
    (cd firmware-example/qemu && cargo build --release --target thumbv8m.main-none-eabihf)
    (cd firmware-example/riscv && cargo build --release)
    (cd firmware-example/rpi && cargo build --release)
    for board in "${BOARDS[@]}"; do run_qemu "$board"; done
    step "run ($label): Raspberry Pi (aarch64) under qemu-aarch64"
    (cd "$OUT" && timeout "$QEMU_TIMEOUT" qemu-aarch64 -L /usr/aarch64-linux-gnu "$RPI_BIN" \
        --frames "$FRAMES" --out . --prefix rpi --no-display) | tee "$OUT/rpi.log"

    step "bit identity with the host ($label), $FRAMES frames"
    for target in "${BOARDS[@]}" rpi; do same_as_host "$OUT" "$target" "$FRAMES" "$label"; done
    local macs
    macs=$(sed -n 's/.* \([0-9]*\) MACs per image.*/\1/p' "$OUT/an385.log" | head -1)
    {
        size_row "$label" an385 thumbv6m-none-eabi "$AN385_ELF" "$(instructions an385)" "$macs"
        size_row "$label" an386 thumbv7em-none-eabihf "$AN386_ELF" "$(instructions an386)" "$macs"
        size_row "$label" an505 thumbv8m.main-none-eabihf "$AN505_ELF" "$(instructions an505)" "$macs"
        size_row "$label" riscv32 riscv32imc-unknown-none-elf "$RISCV_ELF" "$(instructions riscv32)" "$macs"
    } >>"$OUT/table.rows"
    echo "$label: $(stat -c %s "$model") bytes, $macs MACs per image" >>"$OUT/table.notes"
}

cargo build -q -p gan-sim
rm -f "$OUT/table.rows" "$OUT/table.notes"
{
    size_row "$(basename "$MODEL")" pico thumbv6m-none-eabi "$PICO_ELF"
    size_row "$(basename "$MODEL")" pico2 thumbv8m.main-none-eabihf "$PICO2_ELF"
} >"$OUT/table.rows"
prove "$(basename "$MODEL")" "$MODEL"
[ -z "$COMPARE_MODEL" ] || prove "$(basename "$COMPARE_MODEL")" "$COMPARE_MODEL"

# prove_walk STEPS: the latent walk, built into the QEMU boards and the Raspberry Pi program with
# MICROGAN_WALK_STEPS, one whole segment and the next keyframe (STEPS + 1 frames) compared with
# the host simulator's --walk frames, byte for byte.
prove_walk() {
    local steps=$1 frames=$(($1 + 1)) dir=$OUT/walk board
    rm -rf "$dir" && mkdir -p "$dir"
    step "latent walk: $steps steps, $frames frames ($(basename "$MODEL"))"
    "$ROOT/target/debug/gan-sim" --model "$MODEL" --walk "$steps" --frames "$frames" \
        --out "$dir" --prefix host >/dev/null
    (
        export MICROGAN_MODEL=$MODEL MICROGAN_WALK_STEPS=$steps MICROGAN_FRAMES=$frames
        cd firmware-example/qemu
        for target in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
            cargo build -q --release --target $target
        done
        (cd ../riscv && cargo build -q --release)
        cd ../rpi && cargo build -q --release
    )
    for board in "${BOARDS[@]}"; do
        # shellcheck disable=SC2086 # the machine's command line splits into words on purpose
        (cd "$dir" && timeout "$QEMU_TIMEOUT" ${MACHINE[$board]} "${QEMU_OPTS[@]}" \
            -kernel "${ELF[$board]}" >"$board.log") || fail "walk: $board exited with an error"
    done
    (cd "$dir" && timeout "$QEMU_TIMEOUT" qemu-aarch64 -L /usr/aarch64-linux-gnu "$RPI_BIN" \
        --frames "$frames" --out . --prefix rpi --no-display >rpi.log) || fail "walk: rpi failed"
    for board in "${BOARDS[@]}" rpi; do same_as_host "$dir" "$board" "$frames" walk; done
    (cd "$dir" && grep -h "per frame" "${BOARDS[@]/%/.log}")
}
[ "${WALK_STEPS:-4}" = 0 ] || prove_walk "${WALK_STEPS:-4}"

step "sizes and speed"
{
    echo "| model | firmware | target | flash (bytes) | static RAM (bytes) | instructions per image | per MAC |"
    echo "|---|---|---|---|---|---|---|"
    cat "$OUT/table.rows"
} | tee "$OUT/table.md"
cat "$OUT/table.notes"
echo "(flash = text + data, static RAM = data + bss, the stack comes on top)"
echo "frames: $OUT"
