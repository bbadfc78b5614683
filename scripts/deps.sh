#!/bin/sh
# Install the build dependencies ingot needs on Debian/Ubuntu if missing:
# a C compiler, CMake, pkg-config and PCRE2 (Unicode-aware regexes for the
# tokenizer's pre-splitting). clang is only needed for `make fuzz`.
need=""
command -v cc >/dev/null 2>&1 || need="$need build-essential"
command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
pkg-config --exists libpcre2-8 2>/dev/null || need="$need libpcre2-dev"
[ -z "$need" ] && exit 0
echo "ingot: installing$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
