#!/usr/bin/env bash
# The Docker image and the compose demo, end to end (run by CI after scripts/test.sh):
#  1. installs docker.io and docker-compose if missing, starts dockerd if none runs;
#  2. builds metaprobe (release) and the images metaprobe:latest and
#     metaprobe-demo-host:latest from docker/Dockerfile, on debian:bookworm-slim when the
#     engine has it, else on a local Debian 12 base (docker/mkbase.sh: debootstrap +
#     docker import, cached in ~/.cache/metaprobe);
#  3. checks the image: dpdk-testpmd and metaprobe are there, it runs as metaprobe (uid 10000);
#  4. runs the demo (docker/compose.yaml + docker/links.sh): the client resolves
#     www.demo.test with the server's dnsmasq and fetches it with curl, through metaprobe;
#     checks the answers, and the records the collector container printed: a clickstream
#     record with the client's Host, DNS records with the server's answer;
#  5. proves metaprobe is the only path: with the probe paused the client gets no answer,
#     unpaused it does again; stops the probe with SIGTERM: clean exit, summary printed.
# Needs root. Environment: METAPROBE_BASE (a base image to build on), KEEP_DEMO=1 (leave
# the demo running), KEEP_DOCKERD=1 (leave a dockerd this script started running).
set -euo pipefail
# A container's log has a line matching $2. grep reads it all (not -q): with
# pipefail, a grep that quits early would fail the pipe on docker's SIGPIPE.
logs_have() { docker logs "$1" 2>&1 | grep -c -- "$2" >/dev/null; }
cd "$(dirname "$0")/.."
start=$(date +%s)
out=$PWD/out/docker-test
mkdir -p "$out"
log() { printf '== docker-test [%3ds] %s\n' "$(($(date +%s) - start))" "$*"; }
fail() {
  echo "docker-test: FAIL: $*" >&2
  for c in metaprobe-probe metaprobe-collector metaprobe-server metaprobe-client; do
    echo "--- docker logs $c (last 40 lines)" >&2
    docker logs --tail 40 "$c" >&2 2>&1 || true
  done
  exit 1
}
[[ $(id -u) -eq 0 ]] || { echo "docker-test: run as root" >&2; exit 1; }

# 1. Docker
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v ethtool >/dev/null || missing+=(ethtool)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
started_dockerd=
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $out/dockerd.log)"
  setsid dockerd >"$out/dockerd.log" 2>&1 </dev/null &
  started_dockerd=$!
  for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -20 "$out/dockerd.log" >&2; fail "dockerd did not start"; }
fi
cleanup() {
  if [[ -z ${KEEP_DEMO:-} ]]; then
    bash docker/demo.sh down >/dev/null 2>&1 || true
  fi
  if [[ -n $started_dockerd && -z ${KEEP_DOCKERD:-} && -z ${KEEP_DEMO:-} ]]; then
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT

# 2. Images
bash scripts/setup.sh
log "scripts/build-release.sh (the profile-guided binary the image ships)"
bash scripts/build-release.sh
base=${METAPROBE_BASE:-}
if [[ -z $base ]]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    base=metaprobe-base:bookworm
    log "no debian:bookworm-slim here: local base $base (docker/mkbase.sh)"
    bash docker/mkbase.sh "$base"
  fi
fi
for target in runtime demo-host; do
  tag=metaprobe:latest
  [[ $target == demo-host ]] && tag=metaprobe-demo-host:latest
  log "docker build --target $target -t $tag (FROM $base)"
  DOCKER_BUILDKIT=0 docker build --network host -f docker/Dockerfile --build-arg "BASE=$base" \
    --target "$target" -t "$tag" . >"$out/build-$target.log" 2>&1 ||
    { tail -30 "$out/build-$target.log" >&2; fail "docker build --target $target"; }
done
docker image ls metaprobe
size=$(docker image inspect -f '{{.Size}}' metaprobe:latest)
log "metaprobe:latest is $((size / 1000000)) MB"

# 3. The image
version=$(docker run --rm metaprobe sh -c 'command -v dpdk-testpmd && metaprobe --version') ||
  fail "dpdk-testpmd or metaprobe missing from the image"
echo "$version"
[[ $version == */usr/bin/dpdk-testpmd*metaprobe\ * ]] || fail "unexpected: $version"
[[ $(docker run --rm metaprobe id -u) == 10000 ]] || fail "the image does not run as uid 10000"

# 4. The demo
bash docker/demo.sh down >/dev/null 2>&1 || true
log "demo up"
bash docker/demo.sh up
for _ in $(seq 300); do
  logs_have metaprobe-probe '^worker 0 on lcore' && break
  [[ $(docker inspect -f '{{.State.Running}}' metaprobe-probe 2>/dev/null) == true ]] || fail "the probe stopped"
  sleep 0.2
done
logs_have metaprobe-probe '^worker 0 on lcore' || fail "metaprobe did not start its worker"
for _ in $(seq 100); do
  logs_have metaprobe-server 'is up' && break
  sleep 0.2
done

log "client: getent hosts www.demo.test; curl http://www.demo.test/"
answer=$(timeout 60 bash docker/demo.sh request) || fail "the client got no answer through metaprobe"
echo "$answer"
grep -q '^192\.0\.2\.20 .*www\.demo\.test' <<<"$answer" || fail "DNS: www.demo.test did not resolve to 192.0.2.20"
grep -q 'hello from the server behind metaprobe' <<<"$answer" || fail "HTTP: not the server's page"

log "collector records"
ok=
for _ in $(seq 60); do
  docker logs metaprobe-collector >"$out/records.jsonl" 2>/dev/null || true
  if python3 - "$out/records.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
click = [r for r in recs if r["kind"] == "clickstream"
         and r["fields"].get("HOSTNAME") == "www.demo.test"
         and r["fields"].get("IP_SOURCE") == "192.0.2.10"
         and r["fields"].get("IP_DESTINATION") == "192.0.2.20"
         and r["fields"].get("PORT_DESTINATION") == 80
         and r["fields"].get("USER_AGENT", "").startswith("curl/")]
dns = [r for r in recs if r["kind"] == "dns"
       and r["fields"].get("DOMAIN") == "www.demo.test"
       and r["fields"].get("RRTYPE") == 1
       and r["fields"].get("RDATA") == "c0000214"          # 192.0.2.20
       and r["fields"].get("IP_SOURCE") == "192.0.2.20"
       and r["fields"].get("IP_DESTINATION") == "192.0.2.10"]
if click and dns:
    print(f"records: {len(recs)}; clickstream Host www.demo.test from 192.0.2.10: {len(click)};"
          f" dns www.demo.test A 192.0.2.20: {len(dns)}")
    sys.exit(0)
sys.exit(1)
PY
  then ok=1; break; fi
  sleep 0.5
done
[[ -n $ok ]] || { cat "$out/records.jsonl" >&2; fail "the collector did not print the expected records"; }

# 5. The only path
log "probe paused: the client must get no answer"
docker pause metaprobe-probe >/dev/null
if docker exec metaprobe-client curl -sS --max-time 3 -o /dev/null http://192.0.2.20/ 2>/dev/null; then
  docker unpause metaprobe-probe >/dev/null
  fail "the client reached the server with metaprobe paused: there is another path"
fi
docker unpause metaprobe-probe >/dev/null
log "probe unpaused: the client gets its answer again"
docker exec metaprobe-client curl -sS --max-time 10 -o /dev/null http://192.0.2.20/ ||
  fail "no answer after the probe was unpaused"

log "docker stop metaprobe-probe (SIGTERM)"
docker stop -t 30 metaprobe-probe >/dev/null
docker logs metaprobe-probe >"$out/probe.log" 2>&1
[[ $(docker inspect -f '{{.State.ExitCode}}' metaprobe-probe) == 0 ]] || fail "metaprobe exited non-zero"
grep -q '^stopping: signal received' "$out/probe.log" || fail "metaprobe did not stop on the signal"
grep '^final port\|^final export' "$out/probe.log"
python3 - "$out/probe.log" <<'PY' || fail "the probe's final counters"
import re, sys
text = open(sys.argv[1]).read()
ports = {int(m[0]): dict(re.findall(r"([a-z-]+) (\d+)", m[1])) for m in re.findall(r"^final port (\d+) \([^)]*\): (.*)$", text, re.M)}
assert set(ports) == {0, 1}, ports
for p in ports.values():
    assert int(p["rx"]) > 0 and int(p["tx"]) > 0, ports
    assert int(p["tx-dropped"]) == 0 and int(p["tx-errors"]) == 0, ports
# Every frame one port received went out of the other.
assert int(ports[0]["rx"]) == int(ports[1]["tx"]) and int(ports[1]["rx"]) == int(ports[0]["tx"]), ports
PY
log "passed in $(($(date +%s) - start)) s (image metaprobe:latest $((size / 1000000)) MB)"
