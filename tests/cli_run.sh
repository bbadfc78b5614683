#!/usr/bin/env bash
# ingot run / logits / perplexity from the command line: the reference
# greedy story, perplexity within 0.2% of llama.cpp's, JSON output, bench, and the
# error paths (one line on stderr, exit 1 for errors, 2 for usage).
set -u
ING="$1"
D=tests/data
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_rc() { # expected-rc description command...
    local want=$1 what=$2; shift 2
    # (a build with CUDA on a machine without a GPU adds its one fallback line)
    local ef; ef=$(mktemp)
    "$@" >/dev/null 2>"$ef"; local rc=$?
    local err; err=$(grep -v 'CUDA unavailable' "$ef"); rm -f "$ef"
    if [ $rc -ne "$want" ]; then bad "$what: exit $rc, want $want ($err)"; return; fi
    if [ "$want" -eq 1 ]; then
        local lines; lines=$(printf '%s\n' "$err" | grep -c .)
        if [ "$lines" -ne 1 ] || [[ "$err" != ingot:* ]]; then bad "$what: want one 'ingot:' line, got: $err"; return; fi
    fi
    ok
}

# The greedy story of the bundled model (reference: llama.cpp, tests/data/reference/stories260K.json).
out=$("$ING" run -p "Once upon a time" -n 32 --temp 0 2>/dev/null)
want="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw"
[ "$out" = "$want" ] && ok || bad "greedy story: '$out'"

# --json: one object with the prompt tokens, tokens, text, timings.
js=$("$ING" run -m models/stories260K.gguf -p "Once upon a time" -n 8 --temp 0 --json 2>/dev/null)
case "$js" in
  '{"prompt_tokens":[1,403,407,261,378],"tokens":['*'"text":", there was a little girl"'*'"timings":{'*) ok ;;
  *) bad "json: $js" ;;
esac

# Seeded sampling is reproducible.
a=$("$ING" run -p "Once upon a time" -n 24 --temp 1 --seed 7 2>/dev/null)
b=$("$ING" run -p "Once upon a time" -n 24 --temp 1 --seed 7 2>/dev/null)
[ "$a" = "$b" ] && ok || bad "seeded runs differ"

# Perplexity within 0.2% of llama.cpp's.
ppl_check() { # model reference
    local v; v=$("$ING" perplexity -m "$1" -f $D/reference/ppl_text.txt -c 128 -t 2 2>/dev/null | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p')
    if awk -v a="$v" -v b="$2" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; exit !(a != "" && d <= 0.002) }'; then ok
    else bad "perplexity $1: '$v' vs $2"; fi
    echo "perplexity $(basename "$1"): $v (llama.cpp $2)"
}
ppl_check models/stories260K.gguf 6.639
ppl_check $D/models/llama-micro-f16.gguf 532.6608
ppl_check $D/models/llama-micro-q4_k.gguf 535.0385
ppl_check $D/models/gpt2-tiny-q8_0.gguf 49565.6166

# logits JSON: top ids of the reference.
lj=$("$ING" logits -m models/stories260K.gguf -p "Once upon a time" --top 3)
case "$lj" in '{"tokens":[1,403,407,261,378],"positions":[{"pos":4,"top":[[432,17.79'*) ok ;; *) bad "logits: $lj" ;; esac
lj=$("$ING" logits -m models/stories260K.gguf --ids "1 403 407" --all --top 1)
case "$lj" in '{"tokens":[1,403,407],"positions":[{"pos":0,'*'{"pos":1,'*'{"pos":2,'*) ok ;; *) bad "logits --all: $lj" ;; esac

# --backend cuda without a usable GPU: one line says so, the run goes on on the CPU.
ef=$(mktemp)
js=$("$ING" run --backend cuda -p "Once upon a time" -n 4 --temp 0 --json 2>"$ef"); rc=$?
if grep -q "CUDA unavailable" "$ef"; then
    if [ $rc -eq 0 ] && [ "$(grep -c . "$ef")" -eq 1 ] && grep -qE '^ingot: CUDA unavailable \(.+\); running on CPU$' "$ef" \
        && [[ "$js" == *'"backend":"cpu"'* ]]; then ok; else bad "cuda fallback: rc $rc, $(cat "$ef"), $js"; fi
else
    [ $rc -eq 0 ] && [[ "$js" == *'"backend":"cuda"'* ]] && ok || bad "cuda run: rc $rc, $js"
fi
"$ING" run --backend metal -p "Once upon a time" -n 4 --temp 0 >/dev/null 2>"$ef" && grep -q "^ingot: Metal unavailable" "$ef" \
    && ok || bad "metal fallback: $(cat "$ef")"
rm -f "$ef"

# Errors and usage errors.
expect_rc 1 "missing model" "$ING" run -m /nonexistent.gguf -p hi
expect_rc 1 "not a gguf" "$ING" run -m README.md -p hi
expect_rc 1 "prompt longer than the context" "$ING" run -c 8 -p "Once upon a time there was a little girl named Lily who loved to play"
expect_rc 2 "empty prompt" "$ING" run -p ""
expect_rc 2 "no prompt" "$ING" run
expect_rc 2 "bad -n" "$ING" run -p hi -n abc
expect_rc 2 "bad --temp" "$ING" run -p hi --temp -1
expect_rc 2 "unknown flag" "$ING" run -p hi --bogus
expect_rc 2 "bad backend" "$ING" run -p hi --backend tpu
expect_rc 1 "unsupported architecture" "$ING" run -m $D/vocab/ggml-vocab-bert-bge.gguf -p hi
expect_rc 2 "logits bad ids" "$ING" logits --ids "1 x 3"
expect_rc 1 "logits id out of range" "$ING" logits --ids "1 99999"
expect_rc 1 "perplexity missing file" "$ING" perplexity -f /nonexistent.txt
expect_rc 0 "run --help" "$ING" run --help
expect_rc 0 "logits --help" "$ING" logits --help
expect_rc 0 "perplexity --help" "$ING" perplexity --help

# bench: a table row per test, JSON objects with --json, -v accepted.
tb=$("$ING" bench -m models/stories260K.gguf -p 8 -n 4 -r 1 --backend cpu -t 1 2>/dev/null)
case "$tb" in *" pp8 |"*" tg4 |"*) ok ;; *) bad "bench table: $tb" ;; esac
jb=$("$ING" bench -m models/stories260K.gguf -p 8 -n 4 -r 1 --backend cpu -t 1 --json 2>/dev/null)
[ "$(printf '%s\n' "$jb" | grep -c '"tps_mean":')" -eq 2 ] && ok || bad "bench json: $jb"
case "$jb" in *'"test":"pp8"'*'"test":"tg4"'*) ok ;; *) bad "bench json tests: $jb" ;; esac
expect_rc 0 "bench -v" "$ING" bench -m models/stories260K.gguf -p 4 -n 2 -r 1 --backend cpu -t 1 -v
expect_rc 2 "bench -r 0" "$ING" bench -r 0
expect_rc 2 "bench nothing to do" "$ING" bench -p 0 -n 0
expect_rc 1 "bench missing model" "$ING" bench -m /nonexistent.gguf -p 4 -n 0 -r 1

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
