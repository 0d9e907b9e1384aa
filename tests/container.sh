#!/usr/bin/env bash
# The container image, built from the repo's Containerfile and run as a
# self-hoster would, with podman. No registry can be reached here, so the
# Containerfile's bases are made locally:
#   - the build base: busybox (Debian's static one) for the build stage's
#     shell, and the binary cargo built at /prebuilt/sms-router, which the
#     build stage takes instead of building;
#   - the runtime base: FROM scratch, the glibc files that binary links
#     (found with ldd) and a passwd naming the non-root user 65532.
# Then: the container answers /healthz and its own health check; a signed
# webhook through it reaches a fake agent on loopback and gets its reply;
# the server runs as a non-root user; the database survives a restart (the
# volume); `podman stop` ends it within the grace, with exit 0.
#
#   bash tests/container.sh        (as root; CI runs it; needs podman, runc,
#                                   busybox-static, curl)
set -euo pipefail
cd "$(dirname "$0")/.."

# Without systemd, podman complains that it cannot time health checks (run
# by hand here): what it says goes to podman.log, shown on a failure.
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
tag=$$
work=$(mktemp -d)
name=sms-router-ci-$tag
volume=sms-router-ci-$tag
agent_pid=""
cleanup() {
    "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
    "${podman[@]}" volume rm -f "$volume" >/dev/null 2>&1 || true
    "${podman[@]}" rmi -f "localhost/sms-router:ci-$tag" "localhost/sms-router-build-base:$tag" \
        "localhost/sms-router-run-base:$tag" >/dev/null 2>&1 || true
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "container: FAILED: $*" >&2
    tail -20 "$work/podman.log" >&2 || true
    "${podman[@]}" logs "$name" 2>&1 | tail -20 >&2 || true
    exit 1
}

cargo build --locked --quiet --bin sms-router --example bench_tool
bin=target/debug/sms-router

echo "== the bases, made here"
mkdir -p "$work/build-base/bin" "$work/build-base/prebuilt"
cp /bin/busybox "$work/build-base/bin/busybox"
for applet in sh cp mkdir test [; do ln -s busybox "$work/build-base/bin/$applet"; done
cp "$bin" "$work/build-base/prebuilt/sms-router"
printf 'FROM scratch\nCOPY . /\nENV PATH=/bin\n' > "$work/build-base/Containerfile"
"${podman[@]}" build -q -t "localhost/sms-router-build-base:$tag" "$work/build-base" >/dev/null

mkdir -p "$work/run-base/etc" "$work/run-base/tmp"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$work/run-base$(dirname "$lib")"
    cp -L "$lib" "$work/run-base$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    > "$work/run-base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$work/run-base/etc/group"
chmod 1777 "$work/run-base/tmp"
printf 'FROM scratch\nCOPY . /\n' > "$work/run-base/Containerfile"
"${podman[@]}" build -q -t "localhost/sms-router-run-base:$tag" "$work/run-base" >/dev/null

echo "== the image, from the repo's Containerfile"
# Docker's format keeps the HEALTHCHECK (the OCI format has none).
"${podman[@]}" build -q --format docker -f Containerfile -t "localhost/sms-router:ci-$tag" \
    --build-arg "BUILD_BASE=localhost/sms-router-build-base:$tag" \
    --build-arg "RUN_BASE=localhost/sms-router-run-base:$tag" . >/dev/null

echo "== run it"
target/debug/examples/bench_tool agent "$work/agent-port" &
agent_pid=$!
for _ in $(seq 600); do [ -s "$work/agent-port" ] && break; sleep 0.1; done
agent_port=$(cat "$work/agent-port")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin="container-admin-token-0123456789"
twilio="container-twilio-auth-token"
base="http://127.0.0.1:$port"
# Limits no higher than this shell's own (a container cannot raise them).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=65536
nproc=4096
"${podman[@]}" volume create "$volume" >/dev/null
"${podman[@]}" run -d --name "$name" --network host \
    --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" --stop-timeout 40 \
    --health-interval disable \
    -v "$volume:/data" \
    -e "SMS_ROUTER_BIND=0.0.0.0:$port" \
    -e "SMS_ROUTER_PUBLIC_URL=$base" \
    -e "SMS_ROUTER_TWILIO_AUTH_TOKEN=$twilio" \
    -e "SMS_ROUTER_ADMIN_TOKEN=$admin" \
    -e "SMS_ROUTER_AGENT_URL=http://127.0.0.1:$agent_port/" \
    -e "SMS_ROUTER_SHUTDOWN_GRACE_MS=5000" \
    "localhost/sms-router:ci-$tag" >/dev/null 2>>"$work/podman.log"

healthy() {
    for _ in $(seq 600); do
        curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
        "${podman[@]}" container exists "$name" || return 1
        sleep 0.1
    done
    return 1
}
healthy || fail "/healthz did not answer"
"${podman[@]}" healthcheck run "$name" >/dev/null 2>>"$work/podman.log" || fail "the image's health check failed"
echo "ok   /healthz, and the health check (sms-router healthcheck, inside)"

pid=$("${podman[@]}" inspect -f '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" = 65532 ] || fail "the server runs as uid $uid, not 65532"
echo "ok   the server runs as uid $uid"

status=$(curl -sS -o "$work/user.json" -w '%{http_code}' -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d '{"full_name": "Ada", "phone_number": "+12015550123"}' \
    "$base/sms-router/admin/users")
[ "$status" = 201 ] || fail "adding a user answered $status: $(cat "$work/user.json")"
reply=$(SMS_ROUTER_TWILIO_AUTH_TOKEN=$twilio SMS_ROUTER_PUBLIC_URL=$base \
    "$bin" simulate --from +12015550123 --to +15005550006 --url "$base" hello)
[ "$reply" = ok ] || fail "a signed webhook got '$reply', not the fake agent's 'ok'"
echo "ok   a signed webhook reached the agent on loopback and got its reply"

"${podman[@]}" restart "$name" >/dev/null 2>>"$work/podman.log"
healthy || fail "/healthz did not answer after a restart"
users=$(curl -fsS -H "Authorization: Bearer $admin" "$base/sms-router/admin/users")
case "$users" in *'"full_name":"Ada"'*) ;; *) fail "the user is gone after a restart: $users" ;; esac
echo "ok   the database survived a restart (the volume)"

started=$(date +%s)
"${podman[@]}" stop "$name" >/dev/null 2>>"$work/podman.log"
took=$(( $(date +%s) - started ))
code=$("${podman[@]}" inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "podman stop ended it with exit $code"
[ "$took" -lt 40 ] || fail "podman stop took $took s"
echo "ok   podman stop ended it with exit 0 in $took s"
echo "container: every check passed"
