#!/bin/sh
# The steps every language image shares (images/<lang>.Containerfile), run
# in the image being built, as root, during the build:
#   kcr-setup.sh need CMD PKG...   apt-get install PKG... unless CMD is on
#                                  PATH already (an official language image)
#   kcr-setup.sh has CMD           exit 0 when CMD is on PATH
#   kcr-setup.sh install PKG...    apt-get install PKG... (kcr's own image)
#   kcr-setup.sh link PATH...      each path kcr's language table runs
#                                  (lib/base/lang.c: /usr/bin/python3, ...)
#                                  as a link to the same name on PATH: the
#                                  official images install under /usr/local
#   kcr-setup.sh finish [shell]    the sandbox user, /mnt/data, and no package
#                                  manager left; no shell unless "shell"
#                                  (the language's programs need one)
set -eu
uid=65532

apt_install() {
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
	rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
}

link() {
	for p in "$@"; do
		[ -e "$p" ] && continue
		src=$(command -v "${p##*/}") || {
			echo "kcr-setup: $p: no ${p##*/} on PATH" >&2
			exit 1
		}
		mkdir -p "${p%/*}"
		ln -s "$src" "$p"
	done
}

# The uid kcr's pods run as (kubernetes.run_as_user): a passwd line so
# that getpwuid() finds a home (/tmp, an emptyDir), and the directories a
# read-only root leaves writable through emptyDirs.
finish() {
	grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd ||
		echo "sandbox:x:$uid:$uid:sandbox:/tmp:/usr/sbin/nologin" >>/etc/passwd
	grep -q "^[^:]*:[^:]*:$uid:" /etc/group || echo "sandbox:x:$uid:" >>/etc/group
	mkdir -p /mnt/data /tmp
	chown "$uid:$uid" /mnt/data
	chmod 1777 /tmp
	# no package manager: nothing in the image installs anything at run time
	rm -rf /usr/bin/apt /usr/bin/apt-* /usr/bin/dpkg /usr/bin/dpkg-* /usr/lib/apt \
		/var/lib/apt /var/cache/apt /var/cache/debconf /etc/apt /var/lib/dpkg /var/log/*
	rm -f "$0"
	if [ "${1:-}" != shell ]; then
		# the running shell is already in memory: it finishes this script
		rm -f /bin/sh /bin/dash /bin/bash /bin/rbash /usr/bin/sh /usr/bin/dash \
			/usr/bin/bash /usr/bin/rbash
	fi
}

cmd=$1
shift
case $cmd in
need)
	command -v "$1" >/dev/null 2>&1 && exit 0
	shift
	apt_install "$@"
	;;
has) command -v "$1" >/dev/null 2>&1 ;;
install) apt_install "$@" ;;
link) link "$@" ;;
finish) finish "$@" ;;
*)
	echo "kcr-setup: unknown step '$cmd'" >&2
	exit 2
	;;
esac
