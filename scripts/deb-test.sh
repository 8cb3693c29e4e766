#!/usr/bin/env bash
# Builds the Debian package (cargo deb) and installs it on this machine with dpkg -i,
# then checks what an operator gets: `metaprobe --version`, `man metaprobe` and the
# subcommand pages, the packaged configuration accepted by check-config, the systemd
# unit (ExecStartPre=check-config, ExecReload=SIGHUP) as systemd-analyze reads it, the
# conffiles (the configuration, the logrotate file).
# Purges the package afterwards unless --keep is given. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
[[ ${1:-} == --keep ]] && keep=1
fail() { echo "deb-test: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "run as root (dpkg -i needs it)"
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
if ! command -v man >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends man-db >/dev/null
fi

# The binary the package ships (profile-guided, target/dist/metaprobe), then what the
# package takes from it and from the tree (paths as [package.metadata.deb] in Cargo.toml
# names them).
bash scripts/build-release.sh
bin=target/dist/metaprobe
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/ipfixcol2"
"$bin" man --out-dir "$assets/man" >/dev/null
gzip -9n "$assets/man"/*.1
cp packaging/ipfixcol2/README "$assets/ipfixcol2/"
# The IPFIXcol2/libfds element file of PEN 43823 (docs/ipfixcol2/, generated from the
# element table by the collector work) goes in when the tree has it.
shopt -s nullglob
elements=(docs/ipfixcol2/*.xml)
shopt -u nullglob
if ((${#elements[@]})); then
  cp "${elements[@]}" "$assets/ipfixcol2/"
else
  echo "deb-test: no docs/ipfixcol2/*.xml in the tree: the package has the README only" >&2
fi

rm -rf target/debian
deb=$(cargo deb --no-build --output target/debian/ | tail -n 1)
[[ -f $deb ]] || fail "cargo deb did not say which file it wrote ($deb)"
echo "deb-test: built $deb"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/deb-test:   \1:/p'

DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
cleanup() { ((keep)) || dpkg --purge metaprobe >/dev/null; }
trap cleanup EXIT

[[ $(command -v metaprobe) == /usr/bin/metaprobe ]] || fail "metaprobe is not /usr/bin/metaprobe"
version=$(metaprobe --version)
[[ $version == "metaprobe $(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print([p for p in json.load(sys.stdin)["packages"] if p["name"]=="metaprobe"][0]["version"])') (git "* ]] ||
  fail "unexpected --version: $version"
echo "deb-test: $version"

for page in metaprobe metaprobe-run metaprobe-check-config metaprobe-collect; do
  file=$(man -w "$page") || fail "man has no page $page"
  [[ $file == /usr/share/man/man1/$page.1.gz ]] || fail "$page is $file, not the package's"
done
text=$(MANPAGER=cat MANWIDTH=100 man metaprobe 2>/dev/null)
for needle in SYNOPSIS SIGNALS SIGHUP FILES /etc/metaprobe/metaprobe.toml check-config; do
  grep -qF -- "$needle" <<<"$text" || fail "man metaprobe has no $needle"
done
MANPAGER=cat man metaprobe-run 2>/dev/null | grep -qF -- --idle-exit || fail "man metaprobe-run has no --idle-exit"
echo "deb-test: man metaprobe works ($(wc -l <<<"$text") lines)"

metaprobe check-config -c /etc/metaprobe/metaprobe.toml >/dev/null ||
  fail "the packaged configuration is refused"
for conffile in /etc/metaprobe/metaprobe.toml /etc/logrotate.d/metaprobe; do
  dpkg-query -W -f='${Conffiles}\n' metaprobe | grep -q " $conffile " || fail "$conffile is not a conffile"
done
if command -v logrotate >/dev/null; then
  logrotate --debug /etc/logrotate.d/metaprobe >/dev/null 2>&1 || fail "logrotate refuses /etc/logrotate.d/metaprobe"
fi
unit=$(dpkg -L metaprobe | grep '/systemd/system/metaprobe\.service$') || fail "no systemd unit installed"
grep -qx 'ExecStartPre=/usr/bin/metaprobe check-config -c /etc/metaprobe/metaprobe.toml' "$unit" ||
  fail "$unit has no ExecStartPre=check-config"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "$unit has no ExecReload=SIGHUP"
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify"
echo "deb-test: $unit verified"
dpkg -L metaprobe | grep -q '^/usr/share/metaprobe/ipfixcol2/' || fail "no ipfixcol2 directory"
echo "deb-test: ok"
