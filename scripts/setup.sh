#!/usr/bin/env bash
# Installs what metaprobe needs to build, run and test on Debian 12, if missing.
# Idempotent: does nothing when everything is there. Needs root for apt.
set -euo pipefail

packages=(
  dpdk libdpdk-dev dpdk-dev
  libclang-dev clang pkg-config
  libpcap-dev
  tshark
  libfixbuf-tools     # ipfixDump: a third-party decoder of our RFC 5610 type records
  python3 python3-pip # chdb (ClickHouse's engine) for the ClickHouse loading test
  iproute2 ethtool iputils-ping
  man-db logrotate
)

missing=()
for p in "${packages[@]}"; do
  [[ $p == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root (apt-get install needs it)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# chdb (ClickHouse's engine in-process, from PyPI) for the ClickHouse test
# (tests/clickhouse.rs). Debian's own python3 is externally managed (PEP 668): pip
# then needs --break-system-packages.
if ! python3 -c 'import chdb' 2>/dev/null; then
  echo "setup: installing chdb (pip)" >&2
  python3 -m pip install --quiet chdb 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages chdb \
    || { echo "setup: cannot install chdb with pip; the ClickHouse test will be skipped" >&2; }
fi

if ! command -v cargo >/dev/null; then
  # rustup's default location, for shells that did not source its profile.
  [[ -x $HOME/.cargo/bin/cargo ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
pkg-config --atleast-version=22.11 libdpdk || { echo "setup: DPDK >= 22.11 not found by pkg-config" >&2; exit 1; }
