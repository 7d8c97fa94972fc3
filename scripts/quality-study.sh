#!/usr/bin/env bash
# Which generator and training setup draw the best digits within the Pico's budget: each
# configuration trained for several seeds on the bundled digits, each run timed and scored by
# `trainer eval` (2,000 images, the bundled digit classifier), mean ± standard error per
# configuration. Finished runs are kept and skipped, so a study cut short can be continued.
#
# Usage: scripts/quality-study.sh          (from the workspace root)
# Environment:
#   CONFIGS  space-separated NAME=OPTIONS pairs, options joined with commas, for instance
#            "w1=--width,1 w2=--width,2 w2-mm=--width,2,--loss,mm
#             cond-w2=--conditional,--mode-seeking,0.2,--width,2" (the default; w2 is what
#            `train` does by default, w2-mm its minimax twin, cond-w2 the conditional model's
#            recipe); others measured before: ema=--ema,0.999 and w2-ema=--width,2,--ema,0.999
#   SEEDS    seeds per configuration (3); STEPS (9000); COUNT (2000 images per evaluation)
#   RUNS     where the runs go (runs/quality-study); TRAINER (default: builds target/release/trainer)
# Each run's command and wall time go to $RUNS/times.tsv.
set -euo pipefail

CONFIGS=${CONFIGS:-"w1=--width,1 w2=--width,2 w2-mm=--width,2,--loss,mm cond-w2=--conditional,--mode-seeking,0.2,--width,2"}
SEEDS=${SEEDS:-3}
STEPS=${STEPS:-9000}
COUNT=${COUNT:-2000}
RUNS=${RUNS:-runs/quality-study}
if [[ -z "${TRAINER:-}" ]]; then
    cargo build --release -p trainer >&2
    TRAINER=target/release/trainer
fi

mkdir -p "$RUNS"
for seed in $(seq 0 $((SEEDS - 1))); do
    for config in $CONFIGS; do
        name="${config%%=*}-s$seed"
        IFS=, read -r -a options <<<"${config#*=}"
        [[ -f "$RUNS/$name/samples.png" ]] && continue
        rm -rf "${RUNS:?}/$name"
        cmd=("$TRAINER" train "${options[@]}" --steps "$STEPS" --seed "$seed" --name "$name"
            --runs-dir "$RUNS" --no-export --quiet --sample-every 0 --log-every 100)
        start=$(date +%s)
        "${cmd[@]}" 2>/dev/null
        printf '%s\t%s s\t%s\n' "$name" "$(($(date +%s) - start))" "train ${options[*]} --steps $STEPS --seed $seed" | tee -a "$RUNS/times.tsv" >&2
    done
done

for config in $CONFIGS; do
    name=${config%%=*}
    runs=()
    for seed in $(seq 0 $((SEEDS - 1))); do
        [[ -f "$RUNS/$name-s$seed/samples.png" ]] && runs+=("$RUNS/$name-s$seed")
    done
    [[ ${#runs[@]} -eq 0 ]] && continue
    echo "== $name: ${config#*=} ($STEPS steps, ${#runs[@]} seeds, $COUNT images each)"
    "$TRAINER" eval --run "${runs[@]}" --count "$COUNT"
done
