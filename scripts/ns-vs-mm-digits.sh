#!/usr/bin/env bash
# Non-saturating (ns) against minimax (mm) generator loss on the bundled digits: the same
# architecture, steps, batch and seeds for both, each run scored by `trainer eval` (2,000 images,
# the bundled digit classifier). Prints one line per run and the mean ± standard error per loss.
#
# Usage: scripts/ns-vs-mm-digits.sh      (from the workspace root)
# Environment: ARCH (dcgan), STEPS (800), SEEDS (3), COUNT (2000), RUNS (runs/ns-vs-mm-digits),
#              TRAINER (default: builds and uses target/release/trainer).
# Runs are trained seed by seed (ns then mm), so a study cut short still pairs the two losses;
# finished runs are kept and skipped.
set -euo pipefail

ARCH=${ARCH:-dcgan}
STEPS=${STEPS:-800}
SEEDS=${SEEDS:-3}
COUNT=${COUNT:-2000}
RUNS=${RUNS:-runs/ns-vs-mm-digits}
if [[ -z "${TRAINER:-}" ]]; then
    cargo build --release -p trainer >&2
    TRAINER=target/release/trainer
fi

mkdir -p "$RUNS"
for seed in $(seq 1 "$SEEDS"); do
    for loss in ns mm; do
        name="$ARCH-$loss-s$seed"
        if [[ -f "$RUNS/$name/samples.png" ]]; then
            continue
        fi
        rm -rf "${RUNS:?}/$name"
        start=$(date +%s)
        "$TRAINER" train --arch "$ARCH" --loss "$loss" --steps "$STEPS" --seed "$seed" \
            --name "$name" --runs-dir "$RUNS" --no-export --quiet --sample-every 0 \
            --checkpoint-every 0 --log-every 100 2>/dev/null
        echo "trained $name in $(($(date +%s) - start)) s" >&2
    done
done

echo "$ARCH, $STEPS steps of batch 64, $SEEDS seeds, $COUNT images per run"
printf '%-16s %8s %8s %9s %11s %-40s\n' run classes KL Frechet confidence "digits 0..9"
for loss in ns mm; do
    runs=()
    for seed in $(seq 1 "$SEEDS"); do
        [[ -f "$RUNS/$ARCH-$loss-s$seed/samples.png" ]] && runs+=("$RUNS/$ARCH-$loss-s$seed")
    done
    [[ ${#runs[@]} -eq 0 ]] && continue
    "$TRAINER" eval --run "${runs[@]}" --count "$COUNT" --json 2>/dev/null | jq -r --arg l "$loss" '
        (.results[] | [(.source | split("/") | last | split(" ") | first), .classes_covered,
            .kl_to_real, .frechet_distance, .mean_confidence, (.histogram | map(tostring) | join(" "))]),
        (.summary | ["\($l) mean ± se", "\(.classes_covered.mean * 10 | round / 10) ± \(.classes_covered.se // 0 | . * 10 | round / 10)",
            "\(.kl_to_real.mean * 1000 | round / 1000) ± \(.kl_to_real.se // 0 | . * 1000 | round / 1000)",
            "\(.frechet_distance.mean * 10 | round / 10) ± \(.frechet_distance.se // 0 | . * 10 | round / 10)",
            "\(.mean_confidence.mean * 1000 | round / 1000) ± \(.mean_confidence.se // 0 | . * 1000 | round / 1000)", ""])
        | @tsv' | awk -F'\t' '$2 ~ /±/ { printf "%-16s %8s %8s %9s %11s\n", $1, $2, $3, $4, $5; next }
            { printf "%-16s %8d %8.3f %9.1f %11.3f %-40s\n", $1, $2, $3, $4, $5, $6 }'
done
