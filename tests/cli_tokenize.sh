#!/usr/bin/env bash
# ingot tokenize / detokenize on vocab-only files. $1: the ingot binary.
# Run from the source tree.
set -u
BIN=${1:?usage: cli_tokenize.sh path/to/ingot}
V=tests/data/vocab
GPT2=$V/ggml-vocab-gpt-2.gguf
SPM=$V/ggml-vocab-llama-spm.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect_out NAME WANT CMD...: stdout equals WANT, exit 0
expect_out() {
    local name=$1 want=$2
    shift 2
    local got
    got=$("$@" 2>"$TMP/err")
    local rc=$?
    if [ $rc -eq 0 ] && [ "$got" == "$want" ]; then ok; else bad "$name: rc=$rc got '$got' want '$want' ($(cat "$TMP/err"))"; fi
}
# expect_rc NAME RC PATTERN CMD...: exit code RC, stderr matches PATTERN
expect_rc() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -eq "$want" ] && { [ -z "$pat" ] || grep -q -- "$pat" "$TMP/err"; }; then ok; else bad "$name: rc=$rc (want $want), stderr: $(cat "$TMP/err")"; fi
}

expect_out "gpt-2 ids" "15496 995" "$BIN" tokenize -m "$GPT2" -p "Hello world"
expect_out "spm adds BOS" "1 15043 3186" "$BIN" tokenize -m "$SPM" -p "Hello world"
expect_out "--no-bos" "15043 3186" "$BIN" tokenize -m "$SPM" -p "Hello world" --no-bos
expect_out "--pieces" "$(printf '1\t<s>\n15043\t\xe2\x96\x81Hello\n3186\t\xe2\x96\x81world')" \
    "$BIN" tokenize -m "$SPM" -p "Hello world" --pieces
expect_out "special as text" "27 91 437 1659 5239 91 29" "$BIN" tokenize -m "$GPT2" -p "<|endoftext|>"
expect_out "--special" "50256" "$BIN" tokenize -m "$GPT2" -p "<|endoftext|>" --special
expect_out "empty text" "1" "$BIN" tokenize -m "$SPM" -p ""

# -f reads bytes verbatim (trailing newline and all)
printf 'Hello world\n' >"$TMP/in.txt"
expect_out "-f" "15496 995 198" "$BIN" tokenize -m "$GPT2" -f "$TMP/in.txt"

expect_out "detokenize gpt-2" "Hello world" "$BIN" detokenize -m "$GPT2" 15496 995
expect_out "detokenize spm" "Hello world" "$BIN" detokenize -m "$SPM" 1 15043 3186
expect_out "detokenize one argument" "Hello world" "$BIN" detokenize -m "$SPM" "1, 15043, 3186"
expect_out "detokenize --special" "<s>Hello world" "$BIN" detokenize -m "$SPM" --special 1 15043 3186
# the space the tokenizer adds after a special token is taken off again
ids=$("$BIN" tokenize -m "$SPM" --special --no-bos -p "Hi</s>there")
expect_out "special round trip" "Hi</s>there" "$BIN" detokenize -m "$SPM" --special $ids
expect_out "special hidden" "Hithere" "$BIN" detokenize -m "$SPM" $ids

# round trip of a file with UTF-8, tabs and newlines, through both vocabs
printf 'caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\n\tx  y\n' >"$TMP/u.txt"
for voc in "$GPT2" "$SPM"; do
    ids=$("$BIN" tokenize -m "$voc" -f "$TMP/u.txt" --no-bos)
    # shellcheck disable=SC2086 # one argument per id
    "$BIN" detokenize -m "$voc" $ids >"$TMP/back.txt"
    # detokenize adds one newline at the end
    if printf '\n' | cat "$TMP/u.txt" - | cmp -s - "$TMP/back.txt"; then ok; else bad "round trip with $voc"; fi
done

expect_rc "help tokenize" 0 "" "$BIN" tokenize --help
expect_rc "help detokenize" 0 "" "$BIN" detokenize --help
expect_rc "no text" 2 "no text" "$BIN" tokenize -m "$GPT2"
expect_rc "both -p and -f" 2 "either" "$BIN" tokenize -m "$GPT2" -p a -f "$TMP/in.txt"
expect_rc "unknown option" 2 "unknown option" "$BIN" tokenize -m "$GPT2" -p a --bogus
expect_rc "non-numeric id" 2 "not a token id" "$BIN" detokenize -m "$GPT2" 15496 abc
expect_rc "negative id" 2 "not a token id" "$BIN" detokenize -m "$GPT2" -5
expect_rc "no ids" 2 "no token ids" "$BIN" detokenize -m "$GPT2"
expect_rc "id out of range" 1 "^ingot: .*ggml-vocab-gpt-2.gguf: token id 50257 is out of range" \
    "$BIN" detokenize -m "$GPT2" 50257
expect_rc "missing model" 1 "^ingot: $TMP/nope.gguf: " "$BIN" tokenize -m "$TMP/nope.gguf" -p a
expect_rc "missing file" 1 "^ingot: $TMP/nope.txt: " "$BIN" tokenize -m "$GPT2" -f "$TMP/nope.txt"
expect_rc "bert" 1 "^ingot: .*ggml-vocab-bert-bge.gguf: tokenizer model 'bert' is not supported" \
    "$BIN" tokenize -m "$V/ggml-vocab-bert-bge.gguf" -p a

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
