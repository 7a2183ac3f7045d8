#!/bin/sh
# Install what is missing, build, and start kcr's main job.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/install-deps.sh
mkdir -p m4 build-aux
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure -q
make -s -j"$(nproc)"
exec ./bin/kcr serve --listen 127.0.0.1:8000
