#!/usr/bin/env bash
# The README's test command as a newcomer runs it: on a fresh clone, with a
# cold build of its own, on this machine as it is.
#
#   tests/fresh_clone.sh [RUNS] [--beside]
#
# Clones this repository's main branch RUNS times (default 3), one after the
# other, each into a new directory with its own target directory, and runs
# `cargo test` there. With --beside, the last run has a second clone running
# `cargo test` at the same time, as on a machine busy with something else.
# Prints each run's result and time; exits 1 when any run failed. The clones
# and their logs are kept under $FRESH_CLONE_DIR (default: a new temp dir).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=3
beside=
for arg in "$@"; do
    case $arg in
        --beside) beside=1 ;;
        *[!0-9]*) echo "usage: tests/fresh_clone.sh [RUNS] [--beside]" >&2; exit 2 ;;
        *) runs=$arg ;;
    esac
done
repo=$(pwd)
work=${FRESH_CLONE_DIR:-$(mktemp -d)}
mkdir -p "$work"

# A clone of main, and `cargo test` in it with none of this shell's
# sms-router settings; its log in $work/NAME.log.
clone_and_test() { # name
    local dir=$work/$1
    rm -rf "$dir"
    git clone --quiet --branch main "$repo" "$dir" || return 1
    (
        cd "$dir" || exit 1
        unset $(compgen -e | grep -E '^SMS_ROUTER_') RUST_LOG CARGO_TARGET_DIR
        cargo test
    ) >"$work/$1.log" 2>&1
}

failed=0
for n in $(seq "$runs"); do
    name=run$n
    started=$(date +%s)
    if [ -n "$beside" ] && [ "$n" = "$runs" ]; then
        clone_and_test "$name-beside" &
        other=$!
        clone_and_test "$name"
        status=$?
        wait "$other"
        other_status=$?
        echo "$name-beside (at the same time): $([ $other_status = 0 ] && echo passed || echo FAILED)" \
            "— $work/$name-beside.log"
        [ $other_status = 0 ] || failed=1
    else
        clone_and_test "$name"
        status=$?
    fi
    seconds=$(($(date +%s) - started))
    summary=$(grep -E '^test result' "$work/$name.log" | awk '{ p += $4; f += $6 } END { print p " passed, " f " failed" }')
    echo "$name: $([ $status = 0 ] && echo passed || echo FAILED) in ${seconds}s ($summary) — $work/$name.log"
    [ $status = 0 ] || failed=1
done
exit $failed
