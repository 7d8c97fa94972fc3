#!/bin/sh
# Fuzzes the runtime's loader: seeds each target's corpus (small generators of every layer kind
# and the shipped models), then runs each target for SECONDS (default 600) on stable Rust.
#   runtime/fuzz/run.sh [SECONDS] [TARGET...]      targets: load load_generate (default: both)
# Needs `cargo install cargo-fuzz`. Crashes land in runtime/fuzz/artifacts/<target>/.
set -eu
cd "$(dirname "$0")"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-load load_generate}
for t in $targets; do
    mkdir -p "corpus/$t"
    cargo run -q --example make_seeds -- "corpus/$t"
    for m in ../../models/*.safetensors; do
        # The classifier is not a generator file.
        case "$m" in *classifier*) continue ;; esac
        cp "$m" "corpus/$t/"
    done
    if [ -d corpus-seeds ]; then cp corpus-seeds/* "corpus/$t/" 2>/dev/null || true; fi
    # -s none: no sanitizer, so stable Rust works (safe Rust needs none); -a: debug assertions
    # and overflow checks on; one process.
    cargo fuzz run -s none -O -a "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1
done
