#!/usr/bin/env bash
# `msa audit image --engine` and `msa audit engine` against the real Docker engine, through
# its API socket. With no registry here, the test makes its own images: a base imported
# from a tarball it writes (busybox as the only program, an end-of-life os-release, a
# setuid file), and a weak image built on it (a key added then deleted, a secret in ENV and
# in a build argument, root). Each must be found; our own image must show no high finding.
# Then containers, one weakening each (--privileged, the engine socket mounted, a port on
# every address), each found by the engine audit, and a hardened one found clean.
#
#   deploy/test-audit-docker.sh [IMAGE]     # our image, default msa-shop:dev
#
# MSA_BIN names the msa binary to run on the host (default: the static release build that
# deploy/build-image.sh makes). Without a Docker engine it skips, unless
# MSA_REQUIRE_DOCKER=1, when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-msa-shop:${MSA_IMAGE_TAG:-dev}}
msa=${MSA_BIN:-target/x86_64-unknown-linux-gnu/release/msa}
if ! docker info >/dev/null 2>&1; then
    if [ "${MSA_REQUIRE_DOCKER:-0}" = 1 ]; then
        echo "test-audit-docker: no Docker engine answers, and MSA_REQUIRE_DOCKER=1" >&2
        exit 1
    fi
    echo "test-audit-docker: SKIPPED, no Docker engine answers"
    exit 0
fi
[ -x "$msa" ] || { echo "test-audit-docker: no $msa (run deploy/build-image.sh, or set MSA_BIN)" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 \
    || { echo "test-audit-docker: no image $image (build it with deploy/build-image.sh)" >&2; exit 1; }
if ! command -v busybox >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq busybox-static >/dev/null; else sudo apt-get install -y -qq busybox-static >/dev/null; fi
fi

tag="msa-audit-test-$$"
work=$(mktemp -d)
cleanup() {
    docker ps -aq --filter "label=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker image rm "$tag:weak" "$tag:base" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-audit-docker: FAILED: $*" >&2; exit 1; }
step() { printf -- '--> %s\n' "$*"; }
# Values that must never appear in any report.
canary="canary$RANDOM$RANDOM"
key_body=$(head -c 60 /dev/urandom | base64 -w0)
# The finding ids of a JSON report, one a line.
ids() { python3 -c 'import json,sys; [print(f["id"]) for f in json.load(open(sys.argv[1]))["findings"]]' "$1"; }
unprinted() {
    local file
    for file in "$@"; do
        if grep -qF -e "$canary" -e "$key_body" "$file"; then fail "$file prints a secret"; fi
    done
}

step "a base image from a tarball (docker import): busybox, Debian 10's os-release, a setuid file"
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/usr/bin" "$rootfs/tmp" "$rootfs/root"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
printf 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nID=debian\nVERSION_ID="10"\n' >"$rootfs/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/tmp:/bin/sh\n' >"$rootfs/etc/passwd"
cp "$(command -v busybox)" "$rootfs/usr/bin/passwd"
chmod 4755 "$rootfs/usr/bin/passwd"
chmod 1777 "$rootfs/tmp"
tar -C "$rootfs" -c . | docker import - "$tag:base" >/dev/null

step "a weak image built on it: a key added then deleted, secrets in ENV and in a build argument"
context="$work/context"
mkdir "$context"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n' "$key_body" >"$context/id_ed25519"
cat >"$context/Dockerfile" <<EOF
FROM $tag:base
SHELL ["/bin/busybox", "sh", "-c"]
COPY id_ed25519 /root/.ssh/id_ed25519
RUN rm /root/.ssh/id_ed25519
ARG API_TOKEN
RUN test -n "\$API_TOKEN"
ENV DB_PASSWORD=$canary
CMD ["/bin/busybox", "sleep", "600"]
EOF
docker build --quiet --build-arg "API_TOKEN=${canary}x" --tag "$tag:weak" "$context" \
    >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "docker build"; }
if docker history --no-trunc "$tag:weak" | grep -qF "$canary"; then
    echo "    (docker history shows the build argument and the ENV, as the audit must find)"
fi

step "msa audit image --engine finds each control, and prints no secret"
set +e
"$msa" audit image --engine "$tag:weak" --json >"$work/weak.json" 2>"$work/weak.err"
status=$?
"$msa" audit image --engine "$tag:weak" >"$work/weak.txt" 2>>"$work/weak.err"
"$msa" audit image --engine "$tag:weak" --sarif >"$work/weak.sarif" 2>>"$work/weak.err"
set -e
[ "$status" = 1 ] || fail "weak image: exit status $status, not 1: $(cat "$work/weak.err")"
unprinted "$work/weak.json" "$work/weak.txt" "$work/weak.sarif" "$work/weak.err"
found=$(ids "$work/weak.json")
for expected in secrets.file secrets.environment secrets.history user.root os.end-of-life \
    files.setuid surface.shell healthcheck.missing; do
    grep -qx "$expected" <<<"$found" || fail "weak image: no $expected; found: ${found//$'\n'/ }"
done
python3 - "$work/weak.json" "$work/weak.sarif" <<'PY' || fail "weak image: $(cat "$work/weak.txt")"
import json, sys
report = json.load(open(sys.argv[1]))
by_id = {f["id"]: f for f in report["findings"]}
key = [e for e in by_id["secrets.file"]["evidence"] if "/root/.ssh/id_ed25519" in e]
assert key and "deleted by layer" in key[0] and "OpenSSH private key sha256:" in key[0], key
history = " ".join(by_id["secrets.history"]["evidence"])
assert "API_TOKEN" in history, history
assert "DB_PASSWORD" in " ".join(by_id["secrets.environment"]["evidence"])
assert report["operating_system"]["support"]["status"] == "end-of-life", report["operating_system"]
sarif = json.load(open(sys.argv[2]))
rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
assert {"secrets.file", "user.root", "files.setuid"} <= rules, rules
PY
echo "    found: ${found//$'\n'/ }"

step "our own image ($image): no high finding"
"$msa" audit image --engine "$image" --json >"$work/ours.json" \
    || fail "our image: a high finding or a failure: $(cat "$work/ours.json")"
python3 - "$work/ours.json" <<'PY' || fail "our image: $(cat "$work/ours.json")"
import json, sys
report = json.load(open(sys.argv[1]))
high = [f["id"] for f in report["findings"] if f["severity"] in ("high", "critical")]
assert not high, high
assert report["config"]["user"] == "10001:10001", report["config"]
assert report["operating_system"]["support"]["status"] == "no-operating-system"
PY
echo "    findings: $(ids "$work/ours.json" | tr '\n' ' ')"

step "the SBOM of our image: the crates cargo auditable recorded in /msa, valid CycloneDX 1.5"
python3 -m pip install --quiet --disable-pip-version-check 'cyclonedx-python-lib[json-validation]==11.12.0' \
    >/dev/null 2>&1 || fail "pip install cyclonedx-python-lib"
"$msa" audit image --engine "$image" --sbom cyclonedx --sbom-output "$work/ours.cdx.json" \
    --fail-on never >/dev/null 2>"$work/sbom.err" || fail "SBOM: $(cat "$work/sbom.err")"
python3 - "$work/ours.cdx.json" Cargo.lock <<'PY' || fail "SBOM of our image"
import json, sys, tomllib
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
text = open(sys.argv[1]).read()
errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
assert errors is None, errors
components = json.loads(text)["components"]
root = [c for c in components if c["type"] == "application"]
assert [c["name"] for c in root] == ["msa"], root
# Every crate listed is one of Cargo.lock's, at Cargo.lock's version.
locked = {(p["name"], p["version"]) for p in tomllib.load(open(sys.argv[2], "rb"))["package"]}
crates = {(c["name"], c["version"]) for c in components if c["type"] == "library"}
assert crates <= locked, sorted(crates - locked)[:5]
for name in ("tokio", "axum", "rustls", "sqlx-core", "argon2"):
    assert any(n == name for n, _ in crates), name
# crates.io crates have a package URL; the workspace's own (source "local") have none.
local = sorted(c["name"] for c in components if c["type"] == "library" and "purl" not in c)
assert set(local) <= {"kit", "users", "products", "orders", "gateway", "storefront", "audit"}, local
assert all(c["purl"].startswith("pkg:cargo/") for c in components if "purl" in c)
print(f"    {len(crates)} crates of Cargo.lock in /msa, valid CycloneDX 1.5")
PY

step "msa audit engine: each weakened container is found, the hardened one is clean"
run() {
    local name=$1
    shift
    docker run -d --label "$tag" --name "$tag-$name" "$@" "$tag:base" /bin/busybox sleep 600 >/dev/null
}
run hardened --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges:true --read-only \
    -p 127.0.0.1::80
run privileged --user 10001:10001 --privileged
run socket --user 10001:10001 -v /var/run/docker.sock:/var/run/docker.sock:ro
run everywhere --user 10001:10001 -p 0.0.0.0::80
set +e
"$msa" audit engine --json >"$work/engine.json" 2>"$work/engine.err"
status=$?
"$msa" audit engine --sarif >"$work/engine.sarif" 2>>"$work/engine.err"
set -e
[ "$status" -le 1 ] || fail "msa audit engine: exit status $status: $(cat "$work/engine.err")"
python3 - "$work/engine.json" "$tag" "$status" <<'PY' || fail "engine: $(cat "$work/engine.json")"
import json, sys
report, tag, status = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
evidence = {f["id"]: " ".join(f["evidence"]) for f in report["findings"]}
for name, expected in [("privileged", "container.privileged"), ("socket", "container.engine-socket"),
                       ("everywhere", "container.published-all-addresses")]:
    assert f"{tag}-{name} " in evidence.get(expected, ""), (name, expected, evidence)
for finding_id, text in evidence.items():
    assert f"{tag}-hardened " not in text, (finding_id, text)
names = [c["name"] for c in report["containers"]]
assert f"{tag}-hardened" in names, names
socket = report["socket"]
assert socket and socket["mode"] and socket["owner"], socket
high = any(f["severity"] in ("high", "critical") for f in report["findings"])
assert status == int(high), (status, high)
PY
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["version"] == "2.1.0"' "$work/engine.sarif" \
    || fail "engine: no SARIF log"
# The socket's group with a member: the same socket, accounts read from a copy of /etc
# where the group lists one (the host's own accounts are not touched).
socket_gid=$(stat -c %g /var/run/docker.sock)
mkdir "$work/etc"
cp /etc/passwd "$work/etc/passwd"
awk -F: -v gid="$socket_gid" 'BEGIN { OFS = ":" } $3 == gid { $4 = ($4 == "" ? "mallory" : $4 ",mallory") } { print }' \
    /etc/group >"$work/etc/group"
grep -q "mallory" "$work/etc/group" || echo "docker:x:$socket_gid:mallory" >>"$work/etc/group"
set +e
"$msa" audit engine --etc "$work/etc" --json >"$work/members.json" 2>>"$work/engine.err"
set -e
python3 - "$work/members.json" "$work/engine.json" <<'PY' || fail "socket group: $(cat "$work/members.json")"
import json, sys
with_member, baseline = (json.load(open(path)) for path in sys.argv[1:])
members = [f for f in with_member["findings"] if f["id"] == "engine.socket-group-members"]
assert members and "mallory" in " ".join(members[0]["evidence"]), with_member["findings"]
assert any("mallory" in who for who in with_member["socket"]["reachable_by"]), with_member["socket"]
assert not any("mallory" in json.dumps(f) for f in baseline["findings"])
PY
printf '    %-12s found\n' "group member"
for control in privileged socket everywhere; do
    printf '    %-12s found\n' "$control"
done
echo "    engine: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["daemon"]["version"], "-", r["daemon"]["support"])' "$work/engine.json")"
echo "test-audit-docker: ok"
