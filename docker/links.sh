#!/usr/bin/env bash
# Wires the compose demo (docker/compose.yaml): two veth pairs, client <-> probe `sub0` and
# server <-> probe `inet0`, made on the host and moved into the running containers'
# network namespaces; addresses on the client (192.0.2.10/24) and the server
# (192.0.2.20/24), none on the probe's ends. Offloads off on every end (a frame that
# crosses a DPDK bridge carries its own checksums: no TSO/GSO super-frames, no checksum
# left to a NIC), IPv6 off on the probe's ends (no chatter of the probe's own).
# Run as root on the Docker host after `docker-compose up -d`. Idempotent: a link that is
# there already is left alone.
set -euo pipefail

pid_of() {
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null) || { echo "links: container $1 is not running" >&2; exit 1; }
  [[ $pid -gt 0 ]] || { echo "links: container $1 is not running" >&2; exit 1; }
  echo "$pid"
}
in_ns() { nsenter -t "$1" -n -- "${@:2}"; }

probe=$(pid_of metaprobe-probe)
# host   probe-side  container          pid            address
for link in "sub0 metaprobe-client 192.0.2.10/24" "inet0 metaprobe-server 192.0.2.20/24"; do
  read -r probe_if host addr <<<"$link"
  host_pid=$(pid_of "$host")
  if in_ns "$probe" ip link show "$probe_if" >/dev/null 2>&1; then
    echo "links: $probe_if is there already"
    continue
  fi
  # Temporary names on the host side (unique to this run), the final ones inside.
  tmp_p=mpl$$${probe_if:0:1}p tmp_h=mpl$$${probe_if:0:1}h
  ip link add "$tmp_p" type veth peer name "$tmp_h"
  ip link set "$tmp_p" netns "$probe"
  ip link set "$tmp_h" netns "$host_pid"
  in_ns "$probe" ip link set "$tmp_p" name "$probe_if"
  in_ns "$host_pid" ip link set "$tmp_h" name eth0
  in_ns "$probe" sysctl -qw "net.ipv6.conf.$probe_if.disable_ipv6=1"
  for end in "$probe $probe_if" "$host_pid eth0"; do
    read -r pid ifc <<<"$end"
    in_ns "$pid" ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null
  done
  in_ns "$host_pid" ip addr add "$addr" dev eth0
  in_ns "$host_pid" ip link set eth0 up
  in_ns "$probe" ip link set "$probe_if" up
  echo "links: $host eth0 ($addr) <-> metaprobe-probe $probe_if"
done
