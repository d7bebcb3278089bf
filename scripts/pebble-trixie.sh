#!/usr/bin/env bash
# Installs Debian trixie's Pebble (2.6, the first Debian Pebble with ARI: `renewalInfo` in
# its directory, `replaces` on orders) into a private prefix, without touching the machine's
# apt sources or /usr/bin/pebble (bookworm's 2.4.0, which the other certificate tests use).
#
# apt runs with a state directory of its own: a trixie .sources file for the same Debian
# mirror the machine uses, checked against Debian's archive keyring (it carries the trixie
# keys), then `apt-get download pebble/trixie` and `dpkg-deb -x` into the prefix. Trixie's
# pebble depends only on libc6 (>= 2.34), so the static Go binary runs on bookworm.
#
# Idempotent and quick when the binary is already there. Prints the binary's path.
#   STSD_PEBBLE_ARI_PREFIX  where to install (default: $HOME/.cache/stsd-tools/pebble-2.6)
set -euo pipefail

prefix=${STSD_PEBBLE_ARI_PREFIX:-$HOME/.cache/stsd-tools/pebble-2.6}
bin=$prefix/usr/bin/pebble
if [[ -x $bin ]]; then
    echo "$bin"
    exit 0
fi

# The machine's own Debian mirror (deb822 sources or a one-line sources.list), so that a
# machine which reaches only its configured mirror can fetch trixie too.
mirror=$(
    {
        grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
    } | grep -E '/debian/?$' | head -n1 || true
)
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [[ ! -r $keyring ]]; then
    echo "pebble-trixie: $keyring missing (apt-get install debian-archive-keyring)" >&2
    exit 1
fi

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/sources" "$state/lists/partial" "$state/cache/archives/partial" "$state/status" \
    "$state/download"
# apt downloads as its unprivileged `_apt` user: let it into the private state.
chmod 0755 "$state"
if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
    chown -R _apt "$state/lists" "$state/cache" "$state/download"
fi
cat >"$state/sources/trixie.sources" <<EOF
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Architectures: $(dpkg --print-architecture)
Signed-By: $keyring
EOF
: >"$state/status/status"
apt_opts=(
    -o Dir::Etc::SourceList=/dev/null
    -o "Dir::Etc::SourceParts=$state/sources"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state/cache"
    # An empty dpkg status: trixie's lists resolve on their own, whatever the machine has.
    -o "Dir::State::Status=$state/status/status"
    -o Debug::NoLocking=1
    -o APT::Get::List-Cleanup=0
)
echo "pebble-trixie: fetching pebble from $mirror trixie" >&2
apt-get "${apt_opts[@]}" -qq update
(cd "$state/download" && apt-get "${apt_opts[@]}" -qq download pebble/trixie)
deb=$(ls "$state"/download/pebble_*.deb)
mkdir -p "$prefix"
dpkg-deb -x "$deb" "$prefix"
dpkg-deb -f "$deb" Version >"$prefix/VERSION"
if [[ ! -x $bin ]]; then
    echo "pebble-trixie: $deb has no usr/bin/pebble" >&2
    exit 1
fi
echo "pebble-trixie: installed $(cat "$prefix/VERSION") in $prefix" >&2
echo "$bin"
