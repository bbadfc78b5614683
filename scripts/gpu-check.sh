#!/usr/bin/env bash
# Build, test and benchmark the CUDA backend on a GPU machine in one go.
#   scripts/gpu-check.sh [build-dir]
# Logs go to $OUT (or ./gpu-check-out), packed into logs.tgz there at the
# end (the device tool brings back only a few files); a short table is
# printed last.
# Used with the device tool, carrying build-carry/ (a static PCRE2 and
# pkg-config for images that lack them; `sh scripts/make-carry.sh` makes it):
#   run(command="bash scripts/gpu-check.sh", carry=["build-carry"])
# GPU_CHECK_AB: ';'-separated env settings, each one more model-only bench
# run (A/B of the backend's switches), e.g.
#   GPU_CHECK_AB='INGOT_CUDA_NO_FUSE=1;INGOT_CUDA_PF_MB=0 INGOT_CUDA_PF_ATT_MB=0'
# (default: without PDL). GPU_CHECK_ITERS: bench repetitions (20).
# GPU_CHECK_BENCH_AB: the same for `ingot bench -v` of both 7B models.
# GPU_CHECK_TRACE=1: also the kernel timeline of a decode step.
# GPU_CHECK_NO_TESTS=1: no ctest (exploratory runs; never for a final check).
# GPU_CHECK_TEST_ENV: env settings for the ctest run (a switch under test);
# ';'-separated, one full ctest run each ('' in the list: the defaults).
# GPU_CHECK_OPS=model: bench_cuda_ops' 7B model only (no isolated products).
# GPU_CHECK_NCU=1: Nsight Compute sections of one decode layer's kernels
# (serialized, so without PDL overlap) of both 7B files, ncu-*.csv
# (GPU_CHECK_NCU_SKIP: matching launches skipped first, 400).
# GPU_CHECK_BUILD_AB='cmake args;...': more bench_cuda_ops builds, one per
# ';'-separated set (e.g. -DCMAKE_CUDA_FLAGS=-DSOME_MACRO=1), their model
# benches alternated with this build's, three rounds (bench_build_ab.log).
# GPU_CHECK_BASE=file.tgz: a base source tree built too, its model bench
# and `ingot bench` beside this build's (see the A/B block below).
# GPU_CHECK_NCU_OPS=regex: the same for kernels matching regex in
# bench_cuda_ops' 7B model (no model files needed), with warp-stall
# sampling per source line, ncu-ops.csv.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-gpu}
OUT_BASE=${OUT:-$PWD/gpu-check-out}
OUT=$OUT_BASE/logs
mkdir -p "$OUT"
t0=$(date +%s)

if ! command -v pkg-config >/dev/null && [ -x build-carry/bin/pkg-config ]; then
  export PATH=$PWD/build-carry/bin:$PATH LD_LIBRARY_PATH=$PWD/build-carry/bin:${LD_LIBRARY_PATH:-}
fi
if ! pkg-config --exists libpcre2-8 2>/dev/null && [ -d build-carry/pcre2 ]; then
  export PKG_CONFIG_PATH=$PWD/build-carry/pcre2/lib/pkgconfig
fi
# cuBLAS and the benchmark come from src/backend/cuda/cuda.cmake; until the
# top-level CMakeLists includes it, include it in this (throwaway) copy.
if ! grep -q 'cuda/cuda.cmake' CMakeLists.txt; then
  echo 'include(${PROJECT_SOURCE_DIR}/src/backend/cuda/cuda.cmake OPTIONAL)' >> CMakeLists.txt
  echo "note: cuda.cmake appended to this copy's CMakeLists.txt"
fi

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader \
  | tee "$OUT/gpu.txt"

{ cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 &&
  cmake --build "$B" -j16; } > "$OUT/build.log" 2>&1
build_rc=$?
grep -E "error|warning: .*cuda" "$OUT/build.log" | head -20
echo "build rc=$build_rc ($(( $(date +%s) - t0 ))s)"

test_rc=skip
if [ $build_rc -eq 0 ] && [ -z "${GPU_CHECK_NO_TESTS:-}" ]; then
  # one ctest run per ';'-separated entry (empty: the defaults)
  IFS=';' read -ra TENV <<< "${GPU_CHECK_TEST_ENV:-}"
  [ ${#TENV[@]} -eq 0 ] && TENV=("")
  test_rc=0; i=0
  for te in "${TENV[@]}"; do
    log="$OUT/test.log"; [ $i -gt 0 ] && log="$OUT/test$i.log"
    (cd "$B" && env $te INGOT_TEST_VERBOSE=1 ctest -R 'cuda|backend' --output-on-failure -V) > "$log" 2>&1
    rc=$?; [ $rc -ne 0 ] && test_rc=$rc
    echo "--- tests with '${te:-defaults}'"
    grep -E "FAIL|passed|skipped|Passed|Failed|seed" "$log" | head -60
    echo "tests rc=$rc ($(( $(date +%s) - t0 ))s)"
    i=$((i + 1))
  done
fi
if [ $build_rc -eq 0 ]; then
  # 16-byte loads and integer dot products in the q4_0 / q4_K decode kernels?
  if command -v cuobjdump >/dev/null; then
    cuobjdump -sass "$B/libingot.a" 2>/dev/null > "$OUT/sass.txt"
    for k in 'k_mv_qILi2ELi1E' 'k_mv_qILi12ELi1E' 'k_mv_qILi14ELi1E'; do
      awk -v k="$k" '/Function :/{p=index($0,k)>0} p' "$OUT/sass.txt" > /tmp/k.sass
      echo "sass $k: $(grep -c 'LDG.E.128' /tmp/k.sass) LDG.128, $(grep -c 'IDP.4A' /tmp/k.sass) IDP.4A, $(grep -cE 'LDL|STL' /tmp/k.sass) local"
    done
  fi
  if [ -x "$B/bench_cuda_ops" ]; then
    timeout 300 "$B/bench_cuda_ops" "${GPU_CHECK_ITERS:-20}" ${GPU_CHECK_OPS:-} > "$OUT/bench.log" 2>&1
    echo "bench rc=$? ($(( $(date +%s) - t0 ))s)"
    # GPU_CHECK_TRACE=1: the kernel timeline of a decode step (a second
    # build with -DINGOT_CUDA_TRACE=ON; the probe itself slows decode ~3%)
    if [ -n "${GPU_CHECK_TRACE:-}" ]; then
      { cmake -S . -B "$B-trace" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DINGOT_CUDA_TRACE=ON &&
        cmake --build "$B-trace" -j16 --target bench_cuda_ops; } > "$OUT/build-trace.log" 2>&1 &&
        timeout 120 "$B-trace/bench_cuda_ops" 5 model > "$OUT/trace.log" 2>&1
      echo "trace rc=$? ($(( $(date +%s) - t0 ))s)"
      # GPU_CHECK_TRACE_AB: one more timeline with these env settings
      if [ -n "${GPU_CHECK_TRACE_AB:-}" ]; then
        env $GPU_CHECK_TRACE_AB timeout 120 "$B-trace/bench_cuda_ops" 5 model > "$OUT/trace_ab.log" 2>&1
        echo "trace ($GPU_CHECK_TRACE_AB) rc=$? ($(( $(date +%s) - t0 ))s)"
      fi
    fi
    if [ -n "${GPU_CHECK_NCU_OPS:-}" ] && command -v ncu >/dev/null; then
      timeout 300 ncu --clock-control none -k "regex:$GPU_CHECK_NCU_OPS" --launch-skip ${GPU_CHECK_NCU_SKIP:-400} \
        --launch-count 4 --section SpeedOfLight --section WarpStateStats --section SchedulerStats \
        --section SourceCounters --section LaunchStats --section Occupancy --csv --page details \
        "$B/bench_cuda_ops" 2 model > "$OUT/ncu-ops.csv" 2>"$OUT/ncu-ops.err"
      echo "ncu ops ($GPU_CHECK_NCU_OPS) rc=$? ($(( $(date +%s) - t0 ))s)"
    fi
    if [ -n "${GPU_CHECK_BUILD_AB:-}" ] || [ -n "${GPU_CHECK_BASE:-}" ]; then
      IFS=';' read -ra BLD <<< "${GPU_CHECK_BUILD_AB:-}"
      dirs=("$B")
      for j in "${!BLD[@]}"; do
        { cmake -S . -B "$B-ab$j" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 ${BLD[$j]} &&
          cmake --build "$B-ab$j" -j16 --target bench_cuda_ops; } > "$OUT/build-ab$j.log" 2>&1
        echo "build ab$j (${BLD[$j]}) rc=$? ($(( $(date +%s) - t0 ))s)"
        dirs+=("$B-ab$j")
      done
      # GPU_CHECK_BASE=file.tgz: another source tree, left untracked so the
      # device tool carries it, without the test data it does not build
      # (the whole tree twice is over the tool's 64 MiB): `git archive
      # --format=tar.gz -o base.tgz HEAD -- . ':(exclude)tests/data/vocab'
      # ':(exclude)tests/data/models'`. Its bench_cuda_ops and ingot join the A/B
      if [ -n "${GPU_CHECK_BASE:-}" ]; then
        rm -rf "$B-base-src" && mkdir -p "$B-base-src" && tar xzf "$GPU_CHECK_BASE" -C "$B-base-src" &&
          { grep -q 'cuda/cuda.cmake' "$B-base-src/CMakeLists.txt" ||
            echo 'include(${PROJECT_SOURCE_DIR}/src/backend/cuda/cuda.cmake OPTIONAL)' >> "$B-base-src/CMakeLists.txt"; } &&
          { cmake -S "$B-base-src" -B "$B-base" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 &&
            cmake --build "$B-base" -j16 --target bench_cuda_ops ingot_cli; } > "$OUT/build-base.log" 2>&1
        echo "build base ($GPU_CHECK_BASE) rc=$? ($(( $(date +%s) - t0 ))s)"
        dirs+=("$B-base")
      fi
      for r in 1 2 3; do
        for b in "${dirs[@]}"; do
          echo "== $b" >> "$OUT/bench_build_ab.log"
          timeout 120 "$b/bench_cuda_ops" 10 model 2>&1 | grep -E "tok/s|error" >> "$OUT/bench_build_ab.log"
        done
      done
      echo "build A/B done ($(( $(date +%s) - t0 ))s)"
    fi
    # A/B: the same model with the backend's switches flipped
    IFS=';' read -ra AB <<< "${GPU_CHECK_AB:-INGOT_CUDA_NO_PDL=1}"
    [ "${GPU_CHECK_AB:-}" = none ] && AB=()
    i=0
    for v in "${AB[@]}"; do
      i=$((i + 1))
      echo "== $v" > "$OUT/bench_ab$i.log"
      env $v timeout 120 "$B/bench_cuda_ops" 10 model >> "$OUT/bench_ab$i.log" 2>&1
      echo "bench ($v) rc=$? ($(( $(date +%s) - t0 ))s)"
    done
  fi
fi
# Whole models through the CLI: 7B-shaped synthetic files (ingot mkmodel)
# benchmarked with ingot bench, and the same greedy text on CUDA as on the CPU.
if [ $build_rc -eq 0 ] && [ -z "${GPU_CHECK_NO_MODELS:-}" ]; then
  M=${GPU_CHECK_MODELS:-/tmp/ingot-models}
  mkdir -p "$M"
  for t in Q4_0 Q4_K_M; do
    if [ ! -f "$M/llama2-7b-$t.gguf" ]; then
      s=$(date +%s.%N)
      "$B/ingot" mkmodel --arch llama --preset llama2-7b --type $t -o "$M/llama2-7b-$t.gguf" > "$OUT/mkmodel-$t.log" 2>&1
      rc=$?; echo "mkmodel llama2-7b $t: rc=$rc $(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    fi
  done
  timeout 400 "$B/ingot" bench --backend cuda -p 512 -n 128 -r 3 \
    -m "$M/llama2-7b-Q4_0.gguf" -m "$M/llama2-7b-Q4_K_M.gguf" > "$OUT/ingot-bench.md" 2>"$OUT/ingot-bench.err"
  echo "ingot bench rc=$? ($(( $(date +%s) - t0 ))s)"
  if [ -x "$B-base/ingot" ]; then
    timeout 400 "$B-base/ingot" bench --backend cuda -p 512 -n 128 -r 3 \
      -m "$M/llama2-7b-Q4_0.gguf" -m "$M/llama2-7b-Q4_K_M.gguf" > "$OUT/ingot-bench-base.md" 2>&1
    echo "ingot bench (base) rc=$? ($(( $(date +%s) - t0 ))s)"
  fi
  # what `ingot run` streams: default sampling (top-k on the device) and greedy
  for t in Q4_0 Q4_K_M; do
    for smp in "--seed 1" "--seed 1 INGOT_CUDA_NO_TOPK=1" "--temp 0"; do
      e=$(echo "$smp" | grep -o 'INGOT[A-Z_]*=1'); a=${smp% INGOT*}
      echo "ingot run $t $smp: $(env $e timeout 120 "$B/ingot" run --backend cuda -m "$M/llama2-7b-$t.gguf" \
        -p "Once upon a time" -n 256 --ignore-eos $a 2>&1 >/dev/null | grep -E '^generated')"
    done
  done | tee "$OUT/ingot-run.txt"
  # GPU_CHECK_BENCH_AB: ';'-separated env settings, each one more `ingot
  # bench -v` of both models (their scratch allocations in the log)
  IFS=';' read -ra BAB <<< "${GPU_CHECK_BENCH_AB:-}"
  i=0
  for v in "${BAB[@]}"; do
    i=$((i + 1))
    { echo "== $v"; env $v timeout 200 "$B/ingot" bench -v --backend cuda -p 512 -n 128 -r 3 \
        -m "$M/llama2-7b-Q4_0.gguf" -m "$M/llama2-7b-Q4_K_M.gguf" 2>&1; } > "$OUT/ingot-bench-ab$i.log"
    echo "ingot bench ($v) rc=$? ($(( $(date +%s) - t0 ))s)"
  done
  if [ -n "${GPU_CHECK_NCU:-}" ] && command -v ncu >/dev/null; then
    for t in Q4_0 Q4_K_M; do
      timeout 300 ncu --clock-control none -k 'regex:k_mv|k_attn' --launch-skip ${GPU_CHECK_NCU_SKIP:-400} \
        --launch-count 14 --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
        --section WarpStateStats --section LaunchStats --section SchedulerStats --csv --page details \
        "$B/ingot" run --backend cuda -m "$M/llama2-7b-$t.gguf" -p x -n 6 --temp 0 > "$OUT/ncu-$t.csv" 2>"$OUT/ncu-$t.err"
      echo "ncu $t rc=$? ($(( $(date +%s) - t0 ))s)"
    done
  fi
  for be in cpu cuda; do
    "$B/ingot" run --backend $be -p "Once upon a time" -n 48 --temp 0 > "$OUT/story-$be.txt" 2>/dev/null
  done
  cmp -s "$OUT/story-cpu.txt" "$OUT/story-cuda.txt" && echo "stories260K greedy: CUDA == CPU" \
    || echo "stories260K greedy: CUDA != CPU"
  "$B/ingot" run --backend auto -p "Once upon a time" -n 8 --temp 0 2>&1 | tail -3
fi

echo
echo "================ summary ================"
cat "$OUT/gpu.txt"
echo "build rc=$build_rc  tests rc=$test_rc"
for f in "$OUT"/test*.log; do
  [ -f "$f" ] && grep -H -E "^ *[0-9]+ passed|tests passed|tests failed" "$f"
done
[ -f "$OUT/bench.log" ] && cat "$OUT/bench.log"
[ -f "$OUT/ingot-bench.md" ] && { cat "$OUT/ingot-bench.md"; tail -3 "$OUT/ingot-bench.err"; }
[ -f "$OUT/ingot-bench-base.md" ] && { echo "--- base ($GPU_CHECK_BASE)"; grep -E "^\| " "$OUT/ingot-bench-base.md"; }
[ -f "$OUT/ingot-run.txt" ] && cat "$OUT/ingot-run.txt"
[ -f "$OUT/trace.log" ] && grep -A12 "decode timeline" "$OUT/trace.log"
[ -f "$OUT/trace_ab.log" ] && { echo "--- timeline with $GPU_CHECK_TRACE_AB"; grep -A12 "decode timeline" "$OUT/trace_ab.log"; }
for f in "$OUT"/ingot-bench-ab*.log; do
  [ -f "$f" ] && { echo "--- $(head -1 "$f")"; grep -E "^\| |GPU memory" "$f"; }
done
[ -f "$OUT/bench_build_ab.log" ] && { echo "--- this build vs ab0.. = ${GPU_CHECK_BUILD_AB:-} base ${GPU_CHECK_BASE:-}"; cat "$OUT/bench_build_ab.log"; }
for f in "$OUT"/bench_ab*.log; do
  [ -f "$f" ] && { echo "--- $(head -1 "$f")"; grep -E "tok/s|error" "$f"; }
done
rm -f "$OUT/sass.txt"
tar czf "$OUT_BASE/logs.tgz" -C "$OUT_BASE" logs && rm -rf "$OUT"
exit 0
