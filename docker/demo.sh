#!/usr/bin/env bash
# The compose demo (docker/compose.yaml) from the host, as root:
#   docker/demo.sh up        start the four containers and wire the veth pairs
#   docker/demo.sh request   the client resolves www.demo.test and fetches it with curl
#   docker/demo.sh records   what the collector printed (JSON lines)
#   docker/demo.sh down      stop and remove everything
# Images: metaprobe:latest and metaprobe-demo-host:latest (scripts/docker-test.sh builds
# both; METAPROBE_IMAGE / METAPROBE_DEMO_HOST_IMAGE name others).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p metaprobe-demo -f "$here/compose.yaml" "$@"
  else
    docker-compose -p metaprobe-demo -f "$here/compose.yaml" "$@"
  fi
}
case ${1:-} in
  up)
    compose up -d
    bash "$here/links.sh"
    ;;
  request)
    docker exec metaprobe-client sh -c 'getent hosts www.demo.test && curl -sS --max-time 10 http://www.demo.test/'
    ;;
  records)
    docker logs metaprobe-collector 2>/dev/null
    ;;
  down)
    compose down --remove-orphans --timeout 30
    ;;
  *)
    echo "usage: $0 up|request|records|down" >&2
    exit 2
    ;;
esac
