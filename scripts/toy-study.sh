#!/usr/bin/env bash
# The 2-D mode-collapse study: ring8 and grid25, the non-saturating GAN (ns), the minimax GAN (mm)
# and PacGAN (ns with --pack 2 and --pack 4), several seeds each, scored by `trainer eval` with the
# literature's protocol (modes captured, high-quality share, reverse KL at 2,500 and 100,000
# samples). Prints one table: mean ± standard error over the seeds, and how many seeds reached every
# mode at 2,500 samples.
#
# Usage: scripts/toy-study.sh            (from the workspace root)
# Environment: SEEDS (5), STEPS (2500), LR (1e-3), BATCH (100), RUNS (runs/toy-study),
#              ONLY (labels of the options to run, e.g. "ns pack2"; default the first four:
#              ns mm pack2 pack4; the -decay options add --lr-decay linear),
#              DATA (ring8 grid25), NET (small; large is the published networks' size),
#              TRAINER (default: builds and uses target/release/trainer).
# Finished runs are kept and skipped, so an interrupted study continues where it stopped.
set -euo pipefail

SEEDS=${SEEDS:-5}
STEPS=${STEPS:-2500}
LR=${LR:-1e-3}
BATCH=${BATCH:-100}
RUNS=${RUNS:-runs/toy-study}
if [[ -z "${TRAINER:-}" ]]; then
    cargo build --release -p trainer >&2
    TRAINER=target/release/trainer
fi

# name|options
OPTIONS=(
    "ns|--loss ns"
    "mm|--loss mm"
    "pack2|--loss ns --pack 2"
    "pack4|--loss ns --pack 4"
    "ns-decay|--loss ns --lr-decay linear"
    "pack2-decay|--loss ns --pack 2 --lr-decay linear"
    "pack4-decay|--loss ns --pack 4 --lr-decay linear"
)
ONLY=${ONLY:-ns mm pack2 pack4}
DATA=${DATA:-ring8 grid25}
NET=${NET:-small}
if [[ -n "$ONLY" ]]; then
    kept=()
    for opt in "${OPTIONS[@]}"; do
        [[ " $ONLY " == *" ${opt%%|*} "* ]] && kept+=("$opt")
    done
    OPTIONS=("${kept[@]}")
fi

mkdir -p "$RUNS"
for data in $DATA; do
    for opt in "${OPTIONS[@]}"; do
        label=${opt%%|*}
        flags=${opt#*|}
        for seed in $(seq 1 "$SEEDS"); do
            name="$data-$label-s$seed"
            if [[ -f "$RUNS/$name/samples.png" ]]; then
                continue
            fi
            rm -rf "${RUNS:?}/$name"
            start=$(date +%s)
            # shellcheck disable=SC2086
            "$TRAINER" train --toy "$data" $flags --steps "$STEPS" --batch-size "$BATCH" --lr "$LR" --toy-net "$NET" \
                --seed "$seed" --name "$name" --runs-dir "$RUNS" --no-export --quiet \
                --sample-every 0 --checkpoint-every 0 --log-every 500 2>/dev/null
            echo "trained $name in $(($(date +%s) - start)) s" >&2
        done
    done
done

echo "steps $STEPS, batch $BATCH, Adam lr $LR, $NET networks, $SEEDS seeds; mean ± standard error over the seeds"
printf '%-7s %-11s %8s %14s %13s %15s %7s\n' data option samples modes "HQ %" "reverse KL" "all modes"
for data in $DATA; do
    for opt in "${OPTIONS[@]}"; do
        label=${opt%%|*}
        runs=()
        for seed in $(seq 1 "$SEEDS"); do runs+=("$RUNS/$data-$label-s$seed"); done
        "$TRAINER" eval --run "${runs[@]}" --json 2>/dev/null | jq -r --arg d "$data" --arg o "$label" '
            . as $e | $e.summary[] as $s
            | ($e.results | map(select(.samples == $s.samples))) as $rows
            | [$d, $o, $s.samples, $s.modes_captured.mean, $s.modes_captured.se,
               $s.high_quality.mean * 100, $s.high_quality.se * 100,
               $s.reverse_kl.mean, $s.reverse_kl.se,
               ($rows | map(select(.modes_captured == $e.modes)) | length), ($rows | length)]
            | @tsv' | awk -F'\t' '{
                printf "%-7s %-11s %8s %7.1f ± %4.1f %6.1f ± %4.1f %7.3f ± %5.3f %7s\n",
                    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 "/" $11 }'
    done
done
