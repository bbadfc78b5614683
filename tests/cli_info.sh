#!/bin/bash
# `ingot info` on every shared model and vocab file: summary, tensor table,
# --json that parses, and the error / usage exit codes. $1: the ingot binary.
set -u
INGOT=${1:?usage: cli_info.sh path/to/ingot}
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_line() { # FILE REGEX WHAT
    if grep -Eq -- "$2" "$1"; then ok; else fail "$3: no line matching '$2'"; fi
}

# file arch n_tensors "a tensor table line (regex)"
cases=(
    "models/stories260K.gguf|llama|48|^  token_embd\.weight +F32 +\[64, 512\] +131072$"
    "tests/data/models/llama-micro-f16.gguf|llama|21|^  blk\.0\.attn_k\.weight +F16 +\[256, 64\] +32768$"
    "tests/data/models/llama-micro-bf16.gguf|llama|21|^  token_embd\.weight +BF16 +\[256, 512\] +262144$"
    "tests/data/models/llama-micro-q8_0.gguf|llama|21|^  token_embd\.weight +Q8_0 +\[256, 512\] +139264$"
    "tests/data/models/llama-micro-q4_0.gguf|llama|21|^  token_embd\.weight +Q4_0 +\[256, 512\] +73728$"
    "tests/data/models/llama-micro-q4_1.gguf|llama|21|^  token_embd\.weight +Q4_1 +\[256, 512\] +81920$"
    "tests/data/models/llama-micro-q5_0.gguf|llama|21|^  token_embd\.weight +Q5_0 +\[256, 512\] +90112$"
    "tests/data/models/llama-micro-q5_1.gguf|llama|21|^  token_embd\.weight +Q5_1 +\[256, 512\] +98304$"
    "tests/data/models/llama-micro-q2_k.gguf|llama|21|^  token_embd\.weight +Q2_K +\[256, 512\] +43008$"
    "tests/data/models/llama-micro-q3_k.gguf|llama|21|^  token_embd\.weight +Q3_K +\[256, 512\] +56320$"
    "tests/data/models/llama-micro-q4_k.gguf|llama|21|^  token_embd\.weight +Q4_K +\[256, 512\] +73728$"
    "tests/data/models/llama-micro-q5_k.gguf|llama|21|^  token_embd\.weight +Q5_K +\[256, 512\] +90112$"
    "tests/data/models/llama-micro-q6_k.gguf|llama|21|^  token_embd\.weight +Q6_K +\[256, 512\] +107520$"
    "tests/data/models/gpt2-tiny-q8_0.gguf|gpt2|28|^  token_embd\.weight +Q8_0 +\[128, 50257\] +6834952$"
)
for v in tests/data/vocab/*.gguf; do cases+=("$v|.|0|"); done

for c in "${cases[@]}"; do
    IFS='|' read -r file arch nt line <<<"$c"
    out="$tmp/out.txt"
    if ! "$INGOT" info "$file" >"$out" 2>"$tmp/err.txt"; then
        fail "$file: exit $? ($(head -1 "$tmp/err.txt"))"
        continue
    fi
    ok
    expect_line "$out" "^architecture: +$arch" "$file"
    expect_line "$out" "^tensors: $nt " "$file"
    expect_line "$out" "^GGUF version: +3$" "$file"
    [ -n "$line" ] && expect_line "$out" "$line" "$file"
    "$INGOT" info --json "$file" >"$tmp/out.json" || fail "$file: --json exit $?"
    if python3 - "$tmp/out.json" "$nt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
assert len(d["tensors"]) == int(sys.argv[2]), "tensor count"
assert d["gguf_version"] == 3
assert isinstance(d["metadata"], dict) and "general.architecture" in d["metadata"]
assert d["architecture"] == d["metadata"]["general.architecture"]
for t in d["tensors"]:
    assert set(t) >= {"name", "type", "shape", "bytes"}, t
toks = d["metadata"].get("tokenizer.ggml.tokens")
if toks is not None:
    assert len(toks) == 9 and toks[-1].startswith("..."), toks[-1]
EOF
    then ok; else fail "$file: --json output"; fi
done

# Summary values of two known files.
"$INGOT" info models/stories260K.gguf >"$tmp/s.txt"
expect_line "$tmp/s.txt" "^embedding size: +64$" stories260K
expect_line "$tmp/s.txt" "^heads / KV heads: 8 / 4$" stories260K
expect_line "$tmp/s.txt" "^vocab size: +512$" stories260K
expect_line "$tmp/s.txt" "^parameters: +292\.8K \(292800\)$" stories260K
expect_line "$tmp/s.txt" "^  tokenizer\.ggml\.tokens +string\[512\] +\[\"<unk>\", \"<s>\"" stories260K
"$INGOT" info tests/data/models/llama-micro-q4_k.gguf >"$tmp/q.txt"
expect_line "$tmp/q.txt" "^file type: +Q4_K - Medium$" llama-micro-q4_k
expect_line "$tmp/q.txt" "^FF size: +768$" llama-micro-q4_k
"$INGOT" info --json --max-items 0 tests/data/vocab/ggml-vocab-gpt-2.gguf |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["metadata"]["tokenizer.ggml.tokens"]) == 50257 and d["vocab_size"] == 50257' &&
    ok || fail "--max-items 0"

# Errors: one line on stderr, exit 1; usage errors exit 2.
"$INGOT" info "$tmp/missing.gguf" >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && ok || fail "missing file: exit $rc"
[ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "^ingot: $tmp/missing.gguf: " "$tmp/e" && ok ||
    fail "missing file message: $(cat "$tmp/e")"
[ ! -s "$tmp/o" ] && ok || fail "missing file: stdout not empty"
head -c 100 models/stories260K.gguf >"$tmp/cut.gguf"
"$INGOT" info "$tmp/cut.gguf" >/dev/null 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -Eq "^ingot: $tmp/cut.gguf: .*(past end of file|cannot fit)" "$tmp/e" &&
    ok || fail "truncated file: exit $rc: $(cat "$tmp/e")"
"$INGOT" info >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok || fail "no args: exit $rc"
"$INGOT" info --frobnicate models/stories260K.gguf >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok || fail "bad option: exit $rc"
"$INGOT" info --max-items x models/stories260K.gguf >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok || fail "bad --max-items: exit $rc"
"$INGOT" info --help >"$tmp/o" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^usage: ingot info" "$tmp/o" && ok || fail "--help: exit $rc"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
