#!/usr/bin/env bash
# The README's example program tells the same greedy story as `ingot run`.
set -u
EX="$(dirname "$1")/example_simple"
out=$("$EX")
want=", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."
case "$out" in
  "$want"*) echo "1 passed, 0 failed" ;;
  *) echo "example printed: $out"; echo "0 passed, 1 failed"; exit 1 ;;
esac
