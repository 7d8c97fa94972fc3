#!/bin/sh
# Fuzzes the runtime on stable Rust, each target for SECONDS (default 600), one process each:
#   runtime/fuzz/run.sh [SECONDS] [TARGET...]
# Targets: load, load_generate (arbitrary bytes, seeded with small generators of every layer kind
# and the shipped models) and build_generate (layer lists built with ModelBuilder). Default: all.
# Needs `cargo install cargo-fuzz`. A crash is saved under runtime/fuzz/artifacts/<target>/.
set -eu
cd "$(dirname "$0")"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-load load_generate build_generate}
for t in $targets; do
    mkdir -p "corpus/$t"
    case "$t" in
    load | load_generate)
        cargo run -q --example make_seeds -- "corpus/$t"
        for m in ../../models/*.safetensors; do
            # The classifier is not a generator file.
            case "$m" in *classifier*) continue ;; esac
            cp "$m" "corpus/$t/"
        done
        if [ -d corpus-seeds ]; then cp corpus-seeds/* "corpus/$t/"; fi
        ;;
    esac
    # -s none: no sanitizer, which stable Rust allows (the runtime has no unsafe code);
    # -a: debug assertions and overflow checks on, so arithmetic overflow is a crash.
    cargo fuzz run -s none -O -a "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1
done
