#!/usr/bin/env bash
# The standard CPU benchmark: make the synthetic models (once) with
# `ingot mkmodel`, then run `ingot bench` on them.
#
#   bench/run.sh                 # llama-1b in Q4_0, Q8_0, Q4_K_M; -p 64 -n 32 -r 3 -t 2
#   PRESET=llama2-7b TYPES="Q4_0" THREADS=16 P=512 N=128 R=5 bench/run.sh
#   bench/run.sh --json          # extra arguments go to ingot bench
#
# Models go to $MODELS (default: build/bench-models, ignored by git).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ING=${ING:-$ROOT/build/ingot}
MODELS=${MODELS:-$ROOT/build/bench-models}
PRESET=${PRESET:-llama-1b}
TYPES=${TYPES:-"Q4_0 Q8_0 Q4_K_M"}
THREADS=${THREADS:-2}
P=${P:-64}
N=${N:-32}
R=${R:-3}

[ -x "$ING" ] || { echo "no ingot binary at $ING (build first, or set ING=...)" >&2; exit 1; }
mkdir -p "$MODELS"
args=()
for t in $TYPES; do
  f="$MODELS/$PRESET-$t.gguf"
  [ -f "$f" ] || "$ING" mkmodel --preset "$PRESET" --type "$t" -o "$f"
  args+=(-m "$f")
done

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) logical CPUs," \
     "$(grep -m1 'cpu cores' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') cores; $(date -u +%Y-%m-%d)" >&2
echo "# ingot $("$ING" --version | cut -d' ' -f2), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" >&2
"$ING" bench "${args[@]}" -p "$P" -n "$N" -r "$R" -t "$THREADS" "$@"
