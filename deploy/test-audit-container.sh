#!/usr/bin/env bash
# `msa audit container` in real containers: the hardened settings of compose.yaml report no
# high finding, and each of a matrix of negative controls (one weakening at a time) makes
# its own finding appear, which the baseline lacks. A control whose finding does not appear
# fails the test: an audit that cannot fail proves nothing.
#
#   deploy/test-audit-container.sh [IMAGE]     # default msa-shop:dev (deploy/build-image.sh)
#
# Without a Docker engine it skips, unless MSA_REQUIRE_DOCKER=1, when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-msa-shop:${MSA_IMAGE_TAG:-dev}}
if ! docker info >/dev/null 2>&1; then
    if [ "${MSA_REQUIRE_DOCKER:-0}" = 1 ]; then
        echo "test-audit-container: no Docker engine answers, and MSA_REQUIRE_DOCKER=1" >&2
        exit 1
    fi
    echo "test-audit-container: SKIPPED, no Docker engine answers"
    exit 0
fi
docker image inspect "$image" >/dev/null 2>&1 \
    || { echo "test-audit-container: no image $image (build it with deploy/build-image.sh)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-audit-container: FAILED: $*" >&2; exit 1; }

# The settings of every service in compose.yaml.
hardened=(--read-only --tmpfs /tmp --user 10001:10001 --cap-drop ALL
          --security-opt no-new-privileges:true)
# A value that must never appear in a report.
canary="canary-$RANDOM$RANDOM"

# Runs the audit in a fresh container with the given docker-run flags; the JSON report
# goes to $work/<name>.json and the exit status to $work/<name>.status.
audit() {
    local name=$1
    shift
    set +e
    docker run --rm "$@" "$image" audit container --json >"$work/$name.json" 2>"$work/$name.err"
    echo $? >"$work/$name.status"
    set -e
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/$name.json" 2>/dev/null \
        || fail "$name: no JSON report: $(cat "$work/$name.err")"
    if grep -qF "$canary" "$work/$name.json"; then fail "$name: the report prints a secret's value"; fi
}
# The ids of the findings of a report, one a line.
ids() {
    python3 -c 'import json,sys; [print(f["id"]) for f in json.load(open(sys.argv[1]))["findings"]]' "$work/$1.json"
}

echo "--> the hardened baseline"
audit baseline "${hardened[@]}"
python3 - "$work/baseline.json" <<'PY' || fail "baseline: $(cat "$work/baseline.json")"
import json, sys
report = json.load(open(sys.argv[1]))
high = [f["id"] for f in report["findings"] if f["severity"] in ("high", "critical")]
assert not high, f"high findings in the hardened container: {high}"
assert report["runtime"]["kind"] == "docker", report["runtime"]
assert report["privilege"]["uid"] == 10001 and report["privilege"]["effective"] == []
assert report["privilege"]["bounding"] == [] and report["privilege"]["no_new_privs"] is True
assert report["privilege"]["seccomp"] == "filter", report["privilege"]
assert report["operating_system"]["support"]["status"] == "no-operating-system"
# Its own PID namespace: the audit is PID 1 and alone, and found itself without ps.
processes = report["processes"]
assert not processes["host_pid_namespace"] and processes["visible"] == 1, processes
assert processes["list"][0]["executable"] == "/msa", processes
assert processes["list"][0]["command"] == "/msa audit container --json", processes
PY
[ "$(cat "$work/baseline.status")" = 0 ] || fail "baseline: exit status $(cat "$work/baseline.status")"
baseline_ids=$(ids baseline)
echo "    findings: ${baseline_ids//$'\n'/ }"

# name | expected finding | docker-run flags (on top of, or instead of, the hardened ones)
controls=(
    "privileged|container.privileged|${hardened[*]} --privileged"
    "cap-add-sys-admin|capabilities.dangerous-bounding|${hardened[*]} --cap-add SYS_ADMIN"
    "seccomp-unconfined|seccomp.disabled|${hardened[*]} --security-opt seccomp=unconfined"
    "docker-socket|exposure.runtime-socket|${hardened[*]} -v /var/run/docker.sock:/var/run/docker.sock"
    "pid-host|namespace.host-pid|${hardened[*]} --pid=host"
    "net-host|namespace.host-network|${hardened[*]} --net=host"
    "user-root|user.root|--read-only --user 0 --cap-drop ALL --security-opt no-new-privileges:true"
    "writable-root|filesystem.root-writable|--user 10001:10001 --cap-drop ALL --security-opt no-new-privileges:true"
    "env-secret|exposure.environment-secrets|${hardened[*]} -e DB_PASSWORD=$canary"
)
for control in "${controls[@]}"; do
    IFS='|' read -r name expected flags <<<"$control"
    # shellcheck disable=SC2086 # the flags are words by design
    audit "$name" $flags
    found=$(ids "$name")
    grep -qx "$expected" <<<"$found" || fail "$name: no $expected finding; found: ${found//$'\n'/ }"
    if grep -qx "$expected" <<<"$baseline_ids"; then fail "$name: the baseline has $expected too"; fi
    status=$(cat "$work/$name.status")
    severity=$(python3 -c 'import json,sys; print(next(f["severity"] for f in json.load(open(sys.argv[1]))["findings"] if f["id"] == sys.argv[2]))' "$work/$name.json" "$expected")
    # --fail-on high (the default) fails exactly when a high or critical finding is present.
    worst_high=$(python3 -c 'import json,sys; print(int(any(f["severity"] in ("high","critical") for f in json.load(open(sys.argv[1]))["findings"])))' "$work/$name.json")
    [ "$status" = "$worst_high" ] || fail "$name: exit status $status, high findings present: $worst_high"
    printf '    %-20s %-34s %-8s exit %s\n' "$name" "$expected" "$severity" "$status"
done
grep -q "DB_PASSWORD" "$work/env-secret.json" || fail "env-secret: the variable's name is not reported"
echo "test-audit-container: ok"
