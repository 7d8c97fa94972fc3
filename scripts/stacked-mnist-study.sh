#!/usr/bin/env bash
# Stacked MNIST (1,000 modes): the dcgan at width 1 with the non-saturating (ns) and minimax (mm)
# losses, and PacGAN with packs of 2 and 4, several seeds each, every run scored by `trainer eval`
# (26,000 images, modes captured of 1,000, KL of the mode histogram to uniform, Frechet distance
# per channel). Each run's command and wall time go to $RUNS/times.tsv; the scores to
# $RUNS/eval-<config>.json and one table on stdout.
#
# Usage: scripts/stacked-mnist-study.sh [train|eval|all]     (from the workspace root; default all)
# Environment: CONFIGS ("ns mm pack2 pack4"; also pack2-w2: packs of 2, networks twice as wide), SEEDS ("1 2 3"), STEPS (9000), COUNT (26000),
#              RUNS (runs/stacked-mnist), NICE (10), CHECKPOINT_EVERY (1000), TRAINER (default: builds target/release/trainer).
# Runs are trained seed by seed, so a study cut short still has every configuration at the first
# seeds; finished runs are kept and skipped. Two instances with different CONFIGS may share RUNS.
set -euo pipefail

STAGE=${1:-all}
CONFIGS=${CONFIGS:-ns mm pack2 pack4}
SEEDS=${SEEDS:-1 2 3}
STEPS=${STEPS:-9000}
COUNT=${COUNT:-26000}
RUNS=${RUNS:-runs/stacked-mnist}
NICE=${NICE:-10}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-1000}
if [[ -z "${TRAINER:-}" ]]; then
    cargo build --release -p trainer >&2
    TRAINER=target/release/trainer
fi

# The options of a configuration.
options() {
    case "$1" in
        ns) echo "--loss ns --width 1" ;;
        mm) echo "--loss mm --width 1" ;;
        pack2) echo "--loss ns --pack 2 --width 1" ;;
        pack4) echo "--loss ns --pack 4 --width 1" ;;
        pack2-w2) echo "--loss ns --pack 2 --width 2" ;;
        *) echo "unknown configuration $1 (ns, mm, pack2, pack4, pack2-w2)" >&2; exit 2 ;;
    esac
}

train() {
    mkdir -p "$RUNS"
    [[ -f "$RUNS/times.tsv" ]] || printf 'run\tseconds\tcommand\n' >"$RUNS/times.tsv"
    for seed in $SEEDS; do
        for config in $CONFIGS; do
            name="$config-$STEPS-s$seed"
            [[ -f "$RUNS/$name/samples.png" ]] && continue
            rm -rf "${RUNS:?}/$name"
            # shellcheck disable=SC2046
            cmd=(train --stack 3 $(options "$config") --steps "$STEPS" --seed "$seed"
                --name "$name" --runs-dir "$RUNS" --no-export --quiet --sample-every 0
                --checkpoint-every "$CHECKPOINT_EVERY" --log-every 100)
            start=$(date +%s)
            nice -n "$NICE" "$TRAINER" "${cmd[@]}" >&2
            secs=$(($(date +%s) - start))
            printf '%s\t%s\ttrainer %s\n' "$name" "$secs" "${cmd[*]}" >>"$RUNS/times.tsv"
            echo "trained $name in $secs s" >&2
        done
    done
}

evaluate() {
    echo "Stacked MNIST, dcgan, $STEPS steps of batch 64, $COUNT images per run"
    printf '%-18s %7s %7s %24s\n' run modes KL "Frechet per channel"
    for config in $CONFIGS; do
        runs=()
        for seed in $SEEDS; do
            run="$RUNS/$config-$STEPS-s$seed"
            [[ -f "$run/samples.png" ]] && runs+=("$run")
        done
        [[ ${#runs[@]} -eq 0 ]] && continue
        nice -n "$NICE" "$TRAINER" eval --run "${runs[@]}" --count "$COUNT" --json \
            >"$RUNS/eval-$config.json"
        jq -r --arg c "$config" '
            (([.real_baseline] + .results)[]
                | [(.source | split("/") | last | split(" ") | first), .modes_captured,
                   (.kl_to_uniform * 1000 | round / 1000),
                   (.frechet_per_channel | map(. * 10 | round / 10 | tostring) | join(" / "))]),
            (.summary | select(.sources > 1) | ["\($c) mean ± se",
                "\(.modes_captured.mean * 10 | round / 10) ± \(.modes_captured.se // 0 | . * 10 | round / 10)",
                "\(.kl_to_uniform.mean * 1000 | round / 1000) ± \(.kl_to_uniform.se // 0 | . * 1000 | round / 1000)",
                ""])
            | @tsv' "$RUNS/eval-$config.json" |
            awk -F'\t' '{ printf "%-18s %7s %7s %24s\n", $1, $2, $3, $4 }'
    done
}

case "$STAGE" in
    train) train ;;
    eval) evaluate ;;
    all) train && evaluate ;;
    *) echo "usage: $0 [train|eval|all]" >&2; exit 2 ;;
esac
