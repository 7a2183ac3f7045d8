#!/bin/sh
# Install everything kcr needs to build, test and run its 13 languages on a
# fresh Debian 12 machine. Idempotent: packages already there are skipped by
# apt, and `apt-get update` runs only when a package is missing.
set -eu

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  libcurl4-openssl-dev libcjson-dev libyaml-dev libhiredis-dev
  libmicrohttpd-dev libssl-dev liblz4-dev libseccomp-dev"
TEST_PKGS="bats bats-assert bats-support curl redis-server python3-botocore
  valgrind hyperfine wrk iproute2 procps nodejs npm
  python3-kubernetes openssl util-linux podman buildah debootstrap
  golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev python3-jsonschema
  python3-yaml chromium python3-websocket golang-github-getkin-kin-openapi-dev"
RUNTIME_PKGS="python3 python3-cloudpickle python3-dill python3-numpy
  python3-pandas python3-matplotlib golang-go php-cli rustc r-base-core
  gfortran ldc gcc g++ default-jdk-headless bash coreutils"

missing=""
for p in $BUILD_PKGS $TEST_PKGS $RUNTIME_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# The image may ship Node.js from outside Debian; accept any working node/npm.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
# kubectl: the image may ship one from outside Debian (the Google Cloud
# CLI's); Debian's kubernetes-client only where there is none (the two
# conflict on /usr/bin/kubectl)
command -v kubectl >/dev/null 2>&1 || missing="$missing kubernetes-client"
missing=$(echo $missing)
if [ -n "$missing" ]; then
	echo "install-deps: apt-get install $missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null
fi

# TypeScript: Debian's tsc takes ~1 s per run; esbuild's transform takes
# ~5 ms, so ts runs as esbuild + node. Installed globally under /usr so the
# sandbox (which sees /usr read-only) has it.
if ! [ -x "$(npm prefix -g 2>/dev/null)/bin/esbuild" ]; then
	echo "install-deps: npm install -g esbuild"
	npm install -g --no-audit --no-fund esbuild@0.28.2 >/dev/null 2>&1
fi
# s3rver: the S3 server the s3 file store's tests start (no S3 server in
# Debian is as light); global under /usr, as esbuild.
if ! [ -e "$(npm prefix -g 2>/dev/null)/lib/node_modules/s3rver/package.json" ]; then
	echo "install-deps: npm install -g s3rver"
	npm install -g --no-audit --no-fund s3rver@3.7.1 >/dev/null 2>&1
fi
echo "install-deps: ok"
