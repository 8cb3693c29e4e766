#!/bin/sh
# Entry point of the metaprobe image. With METAPROBE_WAIT_IFACES="if1 if2 ..." it waits
# (up to METAPROBE_WAIT_SECS, default 120) until those kernel interfaces exist and are up
# in the container's network namespace before it runs the command: net_af_packet ports
# bind to interfaces that someone else (docker/links.sh, a CNI plugin) moves in after
# the container started. Then it runs the command ("$@") as PID 1's replacement, so
# SIGTERM from `docker stop` reaches metaprobe itself (clean stop, exports flushed).
set -eu
if [ -n "${METAPROBE_WAIT_IFACES:-}" ]; then
  deadline=$(( $(date +%s) + ${METAPROBE_WAIT_SECS:-120} ))
  for ifc in $METAPROBE_WAIT_IFACES; do
    until [ -e "/sys/class/net/$ifc" ] && grep -qx up "/sys/class/net/$ifc/operstate" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "metaprobe-entrypoint: interface $ifc did not come up within ${METAPROBE_WAIT_SECS:-120}s" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "metaprobe-entrypoint: interface $ifc is up"
  done
fi
exec "$@"
