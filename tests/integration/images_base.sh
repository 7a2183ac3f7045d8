#!/bin/sh
# Makes localhost/kcr-test-base:bookworm, the base the images suite builds
# on (no registry is reachable here): a debootstrap minbase root imported
# with podman import. The root's tarball is cached in
# /var/cache/kcr-test-base under a key of what made it (suite, variant,
# mirror, this script), so a rerun imports it in seconds; from nothing it
# takes about a minute.
set -eu
suite=bookworm
image=localhost/kcr-test-base:$suite
cache=${KCR_TEST_BASE_CACHE:-/var/cache/kcr-test-base}

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
key=$( (echo "$suite minbase $mirror"; cat "$0") | sha256sum | cut -c1-16)
tarball=$cache/$suite-minbase-$key.tar

if podman image exists "$image" &&
	[ "$(podman image inspect --format '{{index .Labels "kcr.test-base.key"}}' "$image" 2>/dev/null)" = "$key" ]; then
	echo "$image"
	exit 0
fi
if [ ! -s "$tarball" ]; then
	mkdir -p "$cache"
	root=$(mktemp -d "$cache/root.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
	# no apt lists or caches in the base: the images' own apt-get update
	# fetches what they install
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
	# as the official debian images have it: dpkg without an fsync per
	# file (the build's layer is written once anyway), apt without
	# translations: the images' apt-get install spends less time in dpkg
	echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/kcr-test-unsafe-io"
	echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/kcr-test-no-languages"
	tar -C "$root" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
fi
podman import --change "LABEL kcr.test-base.key=$key" --change 'CMD ["/bin/bash"]' \
	"$tarball" "$image" >&2
echo "$image"
