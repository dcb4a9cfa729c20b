#!/bin/sh
# install-deps.sh: installs every build, test and benchmark dependency of
# chronik from Debian packages. Idempotent: when everything is present it
# changes nothing and touches no network. Must run as root on a fresh machine.
set -eu

PACKAGES="
build-essential pkg-config meson ninja-build
libevent-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils
libinih-dev libsystemd-dev check
libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev librdkafka-dev
kcat python3 python3-kafka python3-confluent-kafka
clang libclang-rt-14-dev valgrind procps iproute2 iptables util-linux
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may name gone versions.
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
