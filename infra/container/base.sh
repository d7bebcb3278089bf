#!/usr/bin/env bash
# Makes the image's base where no registry is reachable: the contents of Google's distroless
# "cc" image (glibc, libgcc, tzdata, the CA bundle, /etc/passwd with root, nobody and nonroot,
# a /tmp, no shell, no package manager) from Debian bookworm's packages with mmdebstrap, imported into
# podman (or docker) under the name the Containerfile uses. With a registry, skip this: the
# build pulls the real one.
#
# Usage: infra/container/base.sh [--engine podman|docker] [--mirror URL]
set -euo pipefail

engine=podman
mirror=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --engine) engine=$2; shift 2 ;;
        --mirror) mirror=$2; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
name="gcr.io/distroless/cc-debian12:nonroot"
if [[ -z "$mirror" ]]; then
    # The machine's own Debian mirror (apt's deb822 sources), else Debian's.
    mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
# `extract`: the packages' files only, no maintainer scripts and nothing essential (no shell).
mmdebstrap --quiet --variant=extract --mode=root --include=libc6,libgcc-s1,tzdata,ca-certificates \
    bookworm "$rootfs" "$mirror"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
# What the packages' scripts would have made: the CA bundle, the users, /tmp.
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' "root:x:0:0:root:/root:/sbin/nologin" \
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin" \
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" >"$rootfs/etc/passwd"
printf '%s\n' "root:x:0:" "nobody:x:65534:" "nonroot:x:65532:" >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/home/nonroot"
tar -C "$rootfs" --numeric-owner -cf "$work/base.tar" .
"$engine" import --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    "$work/base.tar" "$name" >/dev/null
echo "$name"
