#!/bin/sh
# build-carry/: what scripts/gpu-check.sh needs on a bare GPU machine that
# lacks it, taken from this (Debian/Ubuntu) machine: pkg-config with its
# library, and PCRE2 as a static library with its header and .pc file.
# Run `sh scripts/deps.sh` first; then run(..., carry=["build-carry"]).
set -eu
cd "$(dirname "$0")/.."
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
rm -rf build-carry
mkdir -p build-carry/bin build-carry/pcre2/include build-carry/pcre2/lib/pkgconfig
pc=$(readlink -f "$(command -v pkg-config)")
cp "$pc" build-carry/bin/pkg-config
for l in $(ldd "$pc" | awk '/libpkgconf/ {print $3}'); do cp "$l" build-carry/bin/; done
cp /usr/include/pcre2.h build-carry/pcre2/include/
cp "/usr/lib/$multi/libpcre2-8.a" build-carry/pcre2/lib/
ver=$(pkg-config --modversion libpcre2-8)
cat > build-carry/pcre2/lib/pkgconfig/libpcre2-8.pc <<PC
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include
Name: libpcre2-8
Description: PCRE2 8-bit (static copy for bare GPU machines)
Version: $ver
Libs: -L\${libdir} -lpcre2-8
Cflags: -I\${includedir}
PC
echo "build-carry: $(du -sh build-carry | cut -f1)"
