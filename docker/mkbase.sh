#!/usr/bin/env bash
# Makes the local Debian 12 base image for docker/Dockerfile where no registry is
# reachable: debootstrap (minbase) from the Debian mirror apt already uses, `docker import`.
#
#   docker/mkbase.sh [IMAGE]      # default IMAGE: metaprobe-base:bookworm
#
# Idempotent and cached: nothing is done when IMAGE exists; the root file system's tarball
# is kept in $METAPROBE_CACHE (default ~/.cache/metaprobe) and imported again from there
# next time (delete it to refresh the base). Needs root and debootstrap.
# Environment: DEBIAN_MIRROR (default: the first deb.debian.org-style URI of apt's
# sources, else http://deb.debian.org/debian).
set -euo pipefail
image=${1:-metaprobe-base:bookworm}
cache=${METAPROBE_CACHE:-$HOME/.cache/metaprobe}
tarball=$cache/debian-bookworm-minbase.tar.gz

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "mkbase: $image exists"
  exit 0
fi

if [[ ! -s $tarball ]]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mirror=${DEBIAN_MIRROR:-}
  if [[ -z $mirror ]]; then
    # The mirror of bookworm's main suite in apt's own configuration (deb822 or one-line).
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u !~ /security/ {print u; exit}')
    [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  fi
  root=$(mktemp -d /tmp/metaprobe-base.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "mkbase: debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2
    exit 1
  }
  rm -f "$root.log"
  # The suites of debian:bookworm-slim: main, updates and security, from the same mirror.
  security=${mirror%/debian}/debian-security
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # Slim like bookworm-slim: no package caches, lists, documentation or translations.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  mkdir -p "$cache"
  tar --numeric-owner --xattrs -C "$root" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
echo "mkbase: docker import $tarball as $image"
docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tarball" "$image" >/dev/null
docker image ls "$image"
