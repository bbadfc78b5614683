#!/usr/bin/env bash
# ingot chat driven through a pipe: slash commands, history save/load,
# context overflow, a ChatML model, Ctrl-C. $1: the ingot binary.
set -u
CLI=${1:?usage: cli_chat.sh PATH_TO_INGOT}
BIN_DIR=$(cd "$(dirname "$CLI")" && pwd)
MODEL=models/stories260K.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n_fail=0

fail() { echo "FAIL: $*"; n_fail=$((n_fail + 1)); }
# expect FILE PATTERN WHAT: fixed-string match
expect() { grep -qF -- "$2" "$1" || { fail "$3: no '$2' in output:"; sed 's/^/  | /' "$1" | head -60; }; }
chat() { "$CLI" chat "$@" 2>&1; }

# --- a whole session on stories260K (no template: plain) -------------------
printf '%s\n' "/help" "/set temp 0" "Once upon a time" "/stats" "/save $TMP/h.json" \
    "/clear" "/stats" "/load $TMP/h.json" "/system You tell stories." "/system" \
    "Tell me more" "/stats" "/exit" "this line is never read" |
    chat -m "$MODEL" --temp 0 -n 20 >"$TMP/s1.txt"
rc=$?
[ $rc -eq 0 ] || fail "session exit status $rc"
expect "$TMP/s1.txt" "template plain" "banner"
expect "$TMP/s1.txt" "/save FILE" "/help"
expect "$TMP/s1.txt" "temp = 0" "/set"
expect "$TMP/s1.txt" "saved 2 messages to $TMP/h.json" "/save"
expect "$TMP/s1.txt" "conversation cleared" "/clear"
expect "$TMP/s1.txt" "loaded 2 messages" "/load"
expect "$TMP/s1.txt" "system prompt: You tell stories." "/system"
expect "$TMP/s1.txt" "last reply: 20 tokens" "/stats after a 20-token reply"
expect "$TMP/s1.txt" "context: 0 / " "/stats on a fresh context"
grep -q '"role": "user", "content": "Once upon a time"' "$TMP/h.json" ||
    fail "saved JSON lacks the user turn: $(cat "$TMP/h.json")"
grep -q '"role": "assistant", "content": "' "$TMP/h.json" || fail "saved JSON lacks the reply"
grep -q 'never read' "$TMP/s1.txt" && fail "/exit did not stop reading"

# Greedy replies are reproducible.
printf 'Once upon a time\n' | chat -m "$MODEL" --temp 0 -n 20 >"$TMP/r1.txt"
printf 'Once upon a time\n' | chat -m "$MODEL" --temp 0 -n 20 >"$TMP/r2.txt"
cmp -s "$TMP/r1.txt" "$TMP/r2.txt" || fail "greedy replies differ"
[ "$(grep -cv '^ingot\|^/help' "$TMP/r1.txt")" -ge 1 ] || fail "no reply text: $(cat "$TMP/r1.txt")"

# The default model is stories260K.
printf '/exit\n' | INGOT_MODEL= chat >"$TMP/d.txt"
[ $? -eq 0 ] || fail "no -m"
expect "$TMP/d.txt" "stories260K" "default model"

# --- a bad history file is reported and the chat goes on -------------------
printf '{"messages": [{"role": "user", "content": "\\ud800"}]}' >"$TMP/bad.json"
printf '%s\n' "/load $TMP/bad.json" "/load $TMP/missing.json" "/frobnicate" "/set top-k many" \
    "Hello" "/stats" | chat -m "$MODEL" --temp 0 -n 8 >"$TMP/s2.txt"
rc=$?
[ $rc -eq 0 ] || fail "bad-file session exit status $rc (EOF must exit 0)"
expect "$TMP/s2.txt" "bad.json: line 1: unpaired high surrogate" "malformed JSON message"
expect "$TMP/s2.txt" "missing.json: No such file" "missing file message"
expect "$TMP/s2.txt" "unknown command '/frobnicate'" "unknown command"
expect "$TMP/s2.txt" "bad value 'many'" "bad /set value"
expect "$TMP/s2.txt" "last reply: 8 tokens" "chat continued after errors"

# --- a tiny context: old turns are dropped, a huge message is refused ------
long="Once upon a time there was a little girl named Lily who loved to play in the park with her dog"
printf '%s\n' "$long" "$long" "$long" "$long" "/stats" | chat -m "$MODEL" --temp 0 -n 20 -c 64 >"$TMP/s3.txt"
rc=$?
[ $rc -eq 0 ] || fail "small-context exit status $rc"
expect "$TMP/s3.txt" "dropping oldest turns" "context overflow"
huge=$(for i in 1 2 3 4 5 6; do printf '%s ' "$long"; done)
printf '%s\n' "$huge" "Hi" "/stats" | chat -m "$MODEL" --temp 0 -n 4 -c 64 >"$TMP/s4.txt"
rc=$?
[ $rc -eq 0 ] || fail "huge-message exit status $rc"
expect "$TMP/s4.txt" "message too long" "huge message"
expect "$TMP/s4.txt" "last reply: 4 tokens" "chat continued after a huge message"

# --- usage errors ------------------------------------------------------------
chat -m "$MODEL" --template nonsense </dev/null >"$TMP/u.txt"
[ $? -eq 2 ] || fail "bad --template should exit 2"
chat -m "$MODEL" -c abc </dev/null >"$TMP/u.txt"
[ $? -eq 2 ] || fail "bad -c should exit 2"
chat --help >"$TMP/u.txt"
[ $? -eq 0 ] && grep -q -- "--system" "$TMP/u.txt" || fail "--help"

# --- a model with a ChatML template --------------------------------------------
if "$BIN_DIR/test_chat" --write-chatml-model "$TMP/chatml.gguf"; then
    printf '%s\n' "Hi" "/stats" "How are you?" "/stats" "/exit" |
        chat -m "$TMP/chatml.gguf" --system "Be brief." --temp 0 -n 12 >"$TMP/s5.txt"
    rc=$?
    [ $rc -eq 0 ] || fail "chatml exit status $rc"
    expect "$TMP/s5.txt" "template chatml" "ChatML detected"
    expect "$TMP/s5.txt" "last reply: " "ChatML replies"
    # The second turn evaluates fewer tokens than its whole prompt.
    ctx1=$(grep -o 'context: [0-9]*' "$TMP/s5.txt" | sed -n 1p | grep -o '[0-9]*$')
    new2=$(grep -o 'last prompt: [0-9]*' "$TMP/s5.txt" | sed -n 2p | grep -o '[0-9]*$')
    ctx2=$(grep -o 'context: [0-9]*' "$TMP/s5.txt" | sed -n 2p | grep -o '[0-9]*$')
    if [ -n "$ctx1" ] && [ -n "$new2" ] && [ -n "$ctx2" ]; then
        [ "$new2" -lt $((ctx2 - ctx1 + 12)) ] && [ "$new2" -lt "$ctx2" ] ||
            fail "turn 2 re-evaluated too much: ctx $ctx1 -> $ctx2, $new2 new tokens"
    else
        fail "could not read /stats: $(cat "$TMP/s5.txt")"
    fi
    # --template overrides the model's.
    printf 'Hi\n' | chat -m "$MODEL" --template chatml -n 4 >"$TMP/s6.txt"
    expect "$TMP/s6.txt" "template chatml" "--template"
else
    fail "could not write the ChatML model"
fi

# --- Ctrl-C: stops a reply / is reported at the prompt; twice quits ----------
mkfifo "$TMP/in"
"$CLI" chat -m "$MODEL" --temp 0 -n -1 <"$TMP/in" >"$TMP/s7.txt" 2>&1 &
pid=$!
exec 3>"$TMP/in"
for _ in $(seq 100); do grep -q "ingot chat:" "$TMP/s7.txt" 2>/dev/null && break; sleep 0.1; done
printf 'Once upon a time\n' >&3
sleep 0.3
kill -INT $pid
sleep 0.3
printf '/stats\n' >&3
sleep 0.3
kill -0 $pid 2>/dev/null || fail "one Ctrl-C ended the chat"
kill -INT $pid; sleep 0.3; kill -INT $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
    fail "two Ctrl-C at the prompt did not quit"
    kill $pid
fi
wait $pid
rc=$?
exec 3>&-
[ $rc -eq 0 ] || fail "Ctrl-C session exit status $rc"
expect "$TMP/s7.txt" "last reply:" "chat went on after Ctrl-C"

if [ $n_fail -ne 0 ]; then
    echo "$n_fail failure(s)"
    exit 1
fi
echo "cli_chat: all passed"
