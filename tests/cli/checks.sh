# checks.sh — sourced by the tests/cli scripts: one line per check ("ok",
# "FAIL" or "SKIP" with the reason), the count at the end, and the exit status
# (non-zero if any check failed) from `finish`.
abs() { echo "$(cd "$(dirname "$1")" 2> /dev/null && pwd)/$(basename "$1")"; }  # the scripts work in a temp folder
checks=0 fails=0
ok() { checks=$((checks + 1)); echo "ok   - $*"; }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL - $*"; }
skip() { echo "SKIP - $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "$checks checks, $fails failed"
    [ "$fails" -eq 0 ]
}
