#!/usr/bin/env bash
# The spec against clients nobody on the project wrote. Starts the built
# binary (with a fake Twilio, so that sending is configured), then:
# - every example in the spec is validated against its schema;
# - openapi-python-client generates a client from openapi/openapi.json, and
#   tests/python/drive_client.py drives every admin operation through it,
#   on the fresh database;
# - schemathesis fuzzes every operation of the served spec with the checks
#   not_a_server_error, status_code_conformance, content_type_conformance,
#   response_schema_conformance and response_headers_conformance.
# Both run against a server on SQLite, then against one on PostgreSQL (a
# throwaway server from the machine's binaries; skipped loudly without
# them, a failure under CI=true). Fails on any failure of either. Run by
# .ci/run after `cargo test`, which builds the binary; the tools come pinned
# from PyPI into a venv under target/.
#
#   bash tests/spec_clients.sh            # SPEC_EXAMPLES=100 by default
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SMS_ROUTER_BIN:-target/debug/sms-router}
examples=${SPEC_EXAMPLES:-100}
venv=target/spec-clients-venv
token=spec-clients-admin-token-0123456789
[ -x "$bin" ] || cargo build --locked --quiet --bin sms-router

if ! "$venv/bin/python" -c "import schemathesis, openapi_python_client" 2>/dev/null; then
    echo "== installing schemathesis and openapi-python-client into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || {
        apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q --disable-pip-version-check \
        -r tests/python/requirements.txt -c tests/python/constraints.txt
fi

work=$(mktemp -d)
pids=()
stop_postgres=
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "$stop_postgres" ] && as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# Waits for a condition, for at most a minute (a busy machine is slow);
# fails naming what it waited for.
wait_until() { # what, command…
    local what=$1; shift
    for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "spec_clients: timed out waiting for $what" >&2; exit 1
}

"$venv/bin/python" tests/python/fake_twilio.py "$work/twilio-port" &
pids+=($!)
wait_until "the fake Twilio" test -s "$work/twilio-port"
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throwaway PostgreSQL server from the machine's binaries (as `postgres`
# when root: initdb refuses root); stopped on exit.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
start_postgres() {
    mkdir -p "$work/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$work" "$work/pg"
    local pg_port; pg_port=$(free_port)
    as_postgres "$pgbin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
    as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $work/pg -c fsync=off" start >/dev/null
    stop_postgres=1
    postgres_url="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
}

server=
# Serves the binary on a fresh store: SQLite, or the PostgreSQL database of $1.
serve() {
    [ -n "$server" ] && { kill "$server"; wait "$server" 2>/dev/null || true; }
    port=$(free_port)
    env -i PATH="$PATH" \
        SMS_ROUTER_BIND="127.0.0.1:$port" \
        SMS_ROUTER_DATABASE_PATH="$work/spec-$port.db" \
        ${1:+SMS_ROUTER_DATABASE_URL="$1"} \
        SMS_ROUTER_ADMIN_TOKEN="$token" \
        SMS_ROUTER_TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef \
        SMS_ROUTER_TWILIO_AUTH_TOKEN=spec-clients-twilio-token \
        SMS_ROUTER_TWILIO_FROM_NUMBER=+15005550006 \
        SMS_ROUTER_TWILIO_API_BASE="http://127.0.0.1:$(cat "$work/twilio-port")" \
        SMS_ROUTER_RATE_LIMIT_PER_MINUTE=1000000 \
        SMS_ROUTER_LOG_LEVEL=warn \
        "$bin" serve --dev 2>"$work/server.log" &
    server=$!
    pids+=("$server")
    wait_until "sms-router on port $port" \
        "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)"
    base="http://127.0.0.1:$port"
}

echo "== every example in openapi/openapi.json validates against its schema"
"$venv/bin/python" tests/python/check_examples.py openapi/openapi.json

echo "== openapi-python-client: a client from openapi/openapi.json drives every admin operation"
mkdir -p "$work/gen"
"$venv/bin/openapi-python-client" generate --path openapi/openapi.json \
    --output-path "$work/gen/sms_router_client" --meta none >"$work/generate.log" 2>&1 || {
    cat "$work/generate.log"
    exit 1
}
if grep -q "Unable to process schema" "$work/generate.log"; then
    cat "$work/generate.log"
    echo "openapi-python-client dropped schemas from the spec" >&2
    exit 1
fi
# Drives every admin operation, then fuzzes every operation, on the store $1.
clients_against() {
    echo "== the generated Python client drives every admin operation ($1)"
    PYTHONPATH="$work/gen" "$venv/bin/python" tests/python/drive_client.py "$base" "$token"

    echo "== schemathesis: every operation, $examples examples each ($1)"
    status=0
    "$venv/bin/schemathesis" run "$base/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --header "Authorization: Bearer $token" \
        --max-examples "$examples" --workers 1 --seed 1 --no-color \
        >"$work/schemathesis.log" 2>&1 || status=$?
    sed -n '/SUMMARY/,$p' "$work/schemathesis.log"
    if [ "$status" != 0 ]; then
        cat "$work/schemathesis.log"
        echo "schemathesis found failures (exit $status); the server's log:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
}

serve ""
clients_against SQLite

if [ -x "$pgbin/initdb" ]; then
    start_postgres
    serve "$postgres_url"
    clients_against PostgreSQL
elif [ "${CI:-}" = true ]; then
    echo "PostgreSQL's binaries are missing: the spec cannot be checked against a PostgreSQL-backed server" >&2
    exit 1
else
    echo "!!!!!!!! PostgreSQL's binaries are missing: the PostgreSQL run is SKIPPED" >&2
fi
