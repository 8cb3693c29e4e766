#!/bin/sh
# The demo server: an HTTP server on :80 and a DNS server on :53 that answers
# www.demo.test with this host's address. It waits for its interface (docker/links.sh
# moves it in and gives it 192.0.2.20) before it starts.
set -eu
addr=192.0.2.20
i=0
until ip -4 -o addr show 2>/dev/null | grep -q " $addr/"; do
  i=$((i + 1))
  [ "$i" -le 600 ] || { echo "server: no address $addr after 120 s" >&2; exit 1; }
  sleep 0.2
done
echo "server: $addr is up: HTTP on :80, DNS on :53 (www.demo.test -> $addr)"
dnsmasq --keep-in-foreground --no-resolv --no-hosts --user= --pid-file= \
  --listen-address="$addr" --bind-interfaces --log-queries --log-facility=- \
  --address=/demo.test/"$addr" &
exec busybox httpd -f -v -p "$addr:80" -h /opt/demo/www
