#!/usr/bin/env bash
# The container test: builds the image, brings the compose stack up under its own project
# name, and checks from the host what the hardening promises; then takes everything down.
#
# Without a Docker engine it skips, unless MSA_REQUIRE_DOCKER=1, when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
    if [ "${MSA_REQUIRE_DOCKER:-0}" = 1 ]; then
        echo "test-compose: no Docker engine answers, and MSA_REQUIRE_DOCKER=1" >&2
        exit 1
    fi
    echo "test-compose: SKIPPED, no Docker engine answers (set MSA_REQUIRE_DOCKER=1 to fail instead)"
    exit 0
fi

project="msa-test-$$"
work=$(mktemp -d)
export MSA_IMAGE_TAG="test-$$"
export MSA_SECRETS_DIR="$work/secrets"
read -r MSA_HTTP_PORT MSA_HTTPS_PORT < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
export MSA_HTTP_PORT MSA_HTTPS_PORT
# The Compose v2 plugin where there is one, else the standalone docker-compose.
if docker compose version >/dev/null 2>&1; then
    compose_cli=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose_cli=(docker-compose)
else
    echo "test-compose: FAILED: neither 'docker compose' nor docker-compose is installed" >&2
    exit 1
fi
compose_files=(--file deploy/compose.yaml)
compose() {
    "${compose_cli[@]}" --project-name "$project" --env-file "$MSA_SECRETS_DIR/public-keys.env" \
        "${compose_files[@]}" "$@"
}
teardown() {
    compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    docker image rm "msa-shop:$MSA_IMAGE_TAG" "msa-postgres:$MSA_IMAGE_TAG" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap teardown EXIT
fail() { echo "test-compose: FAILED: $*" >&2; exit 1; }
# The sniffer of the mutual TLS check.
if ! command -v tcpdump >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq tcpdump >/dev/null; else sudo apt-get install -y -qq tcpdump >/dev/null; fi
fi
step() { printf -- '--> %s\n' "$*"; }
container() { compose ps -q "$1"; }

# Brings the stack up and waits (at most $1 seconds) until each named service is healthy.
up_healthy() {
    local deadline=$((SECONDS + $1)) service
    shift
    compose up -d --quiet-pull >"$work/up.log" 2>&1 || { cat "$work/up.log"; compose logs --tail 15; fail "compose up"; }
    for service in "$@"; do
        until [ "$(docker inspect --format '{{.State.Health.Status}}' "$(container "$service")")" = healthy ]; do
            [ $SECONDS -lt $deadline ] || { compose logs --tail 30; fail "$service never became healthy"; }
            sleep 1
        done
    done
}

# The session cookie is Secure: curl, like a browser, takes and sends it over HTTPS only.
https="https://localhost:$MSA_HTTPS_PORT"
jar="$work/cookies"
# Logs in as the demo customer Alice, with the password and CA this stack generated.
log_in_alice() {
    docker cp "$(container users):/data/demo-credentials.json" "$work/credentials.json"
    docker cp "$(container gateway):/data/tls/ca.pem" "$work/ca.pem"
    local password
    password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["alice@example.com"])' "$work/credentials.json")
    rm -f "$jar"
    curl -fsS --cacert "$work/ca.pem" -c "$jar" "$https/api/v1/auth/login" \
        -H 'content-type: application/json' \
        -d "{\"email\":\"alice@example.com\",\"password\":\"$password\"}" >/dev/null \
        || fail "login"
}

step "build the image"
bash deploy/build-image.sh
image="msa-shop:$MSA_IMAGE_TAG"
bash deploy/init-secrets.sh "$MSA_SECRETS_DIR" >/dev/null

# The static release binary the image holds, to run the host-side audits.
msa_bin=target/x86_64-unknown-linux-gnu/release/msa

step "msa audit image and msa audit engine: each control found, our image without a high finding"
MSA_BIN="$msa_bin" bash deploy/test-audit-docker.sh "$image"

step "the image holds one file and no secret"
docker save "$image" -o "$work/image.tar"
mkdir "$work/image"
tar -xf "$work/image.tar" -C "$work/image"
mkdir "$work/rootfs"
for layer in "$work"/image/*/layer.tar; do
    tar -xf "$layer" -C "$work/rootfs"
done
files=$(cd "$work/rootfs" && find . -type f | sort)
[ "$files" = "./msa" ] || fail "files in the image besides /msa: $files"
for secret in "$MSA_SECRETS_DIR"/keys/*.key; do
    needle=$(tr -d '\n' <"$secret")
    if grep -rqF "$needle" "$work/image" || docker history --no-trunc "$image" | grep -qF "$needle"; then
        fail "the image contains the key $(basename "$secret")"
    fi
done
if grep -rqa -- "-----BEGIN .*PRIVATE KEY-----" "$work/rootfs" "$work/image"/*.json; then
    fail "the image contains a PEM private key"
fi
config=$(docker image inspect "$image" --format '{{json .Config}}')
grep -q '"User":"10001:10001"' <<<"$config" || fail "the image does not run as 10001: $config"

step "msa audit container: the hardened settings pass, each weakening is found"
bash deploy/test-audit-container.sh "$image"

step "bring the stack up"
up_healthy 90 users products orders gateway

base="http://127.0.0.1:$MSA_HTTP_PORT"
step "the API flow through the gateway ($base)"
log_in_alice
order=$(curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/orders/9001") || fail "GET order 9001"
grep -q '"name":"Alice"' <<<"$order" || fail "order 9001 is not enriched: $order"
placed=$(curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/orders" \
    -H 'Idempotency-Key: compose-1' -H 'content-type: application/json' \
    -d '{"items":[{"product_id":101,"quantity":1}]}') || fail "placing an order"
grep -q '"status":"confirmed"' <<<"$placed" || fail "order not confirmed: $placed"

step "mutual TLS on msa-net: no answer without a certificate, no plaintext on the wire"
net="${project}_msa-net"
on_net() {
    docker run --rm --network "$net" --read-only --cap-drop ALL --user 10001:10001 \
        --security-opt no-new-privileges:true \
        -v "$MSA_SECRETS_DIR/internal-tls/ca.pem:/ca.pem:ro" "$image" "$@" >/dev/null 2>&1
}
on_net probe --ca-file /ca.pem https://users:5001/healthz \
    || fail "a container on msa-net cannot reach the probes over TLS"
for target in users:5001/users/1 products:5002/internal/reservations/9001 orders:5003/orders/9001; do
    if on_net probe "http://$target"; then fail "http://$target answers plain HTTP"; fi
    if on_net probe --ca-file /ca.pem "https://$target"; then
        fail "https://$target answers a container without a certificate"
    fi
done
# Frames between two containers pass the bridge without reaching the bridge device
# itself: listen on every interface of the host (the containers' veths among them), for
# the network's addresses.
subnet=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$net" | awk '{print $1}')
[ -n "$subnet" ] || fail "msa-net has no subnet"
tcpdump -i any --immediate-mode -U -w "$work/msa-net.pcap" "net $subnet" >/dev/null 2>"$work/tcpdump.err" &
sniffer=$!
until grep -q "listening on" "$work/tcpdump.err" 2>/dev/null; do
    kill -0 "$sniffer" 2>/dev/null || fail "tcpdump did not start: $(cat "$work/tcpdump.err")"
    sleep 0.1
done
curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/orders" \
    -H 'Idempotency-Key: compose-sniffed' -H 'content-type: application/json' \
    -d '{"items":[{"product_id":102,"quantity":1}]}' >/dev/null || fail "placing an order while sniffed"
curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/orders/9001" >/dev/null \
    || fail "reading an order while sniffed"
# Until the packets are written (each as it comes, but the kernel hands them over in turn).
pcap_size() { stat -c %s "$work/msa-net.pcap" 2>/dev/null || echo 0; }
deadline=$((SECONDS + 10))
while [ "$(pcap_size)" -le 4000 ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
kill -INT "$sniffer"
wait "$sniffer" || true
[ "$(pcap_size)" -gt 4000 ] \
    || fail "the sniffer heard nothing on $subnet: $(ls -l "$work/msa-net.pcap"; cat "$work/tcpdump.err")"
# The control that the sniffer heard the calls between the services at all: packets with
# a payload to and from each service port.
for port in 5001 5002 5003; do
    heard=$(tcpdump -r "$work/msa-net.pcap" -nn "tcp port $port and greater 120" 2>/dev/null | wc -l)
    [ "$heard" -gt 0 ] || fail "the sniffer heard no call to port $port"
done
for plain in x-msa-identity 'HTTP/1.1' product_id Alice; do
    if grep -aqi -- "$plain" "$work/msa-net.pcap"; then fail "'$plain' in the clear on msa-net"; fi
done

step "only the gateway is reachable from the host"
# Whether an msa service answers at URL: ours stamp every answer with x-request-id (a
# sandbox's egress proxy may answer any address, but not like that).
msa_answers() { curl -s -D - -o /dev/null --max-time 2 "$1" | grep -qi '^x-request-id:'; }
msa_answers "$base/healthz" || fail "the check cannot see the gateway itself"
for port in 5001 5002 5003; do
    if msa_answers "http://127.0.0.1:$port/healthz"; then
        fail "port $port answers on the host"
    fi
done
# Not even at their addresses on msa-net: the host has no address on that bridge.
for service in users:5001 products:5002 orders:5003; do
    name=${service%:*} port=${service#*:}
    for address in $(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$(container "$name")"); do
        if msa_answers "http://$address:$port/healthz"; then
            fail "$name answers the host at $address:$port"
        fi
    done
done

step "containers: read-only root, non-root, no capabilities, no new privileges"
for service in users products orders gateway; do
    id=$(container $service)
    host=$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.Config.User}}' "$id")
    [ "$host" = "true [ALL] [no-new-privileges:true] 10001:10001" ] || fail "$service runs with: $host"
    pid=$(docker inspect --format '{{.State.Pid}}' "$id")
    status=$(cat "/proc/$pid/status")
    grep -qE '^Uid:\s+10001\s' <<<"$status" || fail "$service runs as $(grep ^Uid <<<"$status")"
    grep -qE '^CapEff:\s+0+$' <<<"$status" || fail "$service has capabilities: $(grep ^CapEff <<<"$status")"
    grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || fail "$service may gain privileges"
    # Its tmpfs, the one writable place besides the data volume, belongs to the service user.
    [ "$(stat -c %u "/proc/$pid/root/tmp")" = 10001 ] || fail "$service cannot write its /tmp"
    # The binary itself tries to create a database outside its volume and tmpfs: the
    # kernel must refuse (were it writable, the probe would start serving, and time out).
    written=$(timeout 20 docker exec "$id" /msa serve products --products-port 0 \
        --data-dir /var/msa-write-probe 2>&1) && fail "$service could write to its root filesystem"
    grep -q "Read-only file system" <<<"$written" || fail "$service: unexpected answer to a write: $written"
    # Docker itself adds the mount points of the tmpfs and the secrets; nothing else.
    changed=$(docker diff "$id" | grep -v -x -e 'A /tmp' -e 'A /run' -e 'A /run/secrets' -e 'A /run/secrets/[a-z_]*' || true)
    [ -z "$changed" ] || fail "$service changed its root filesystem: $changed"
done

step "msa audit container inside each running service: no high finding"
for service in users products orders gateway; do
    id=$(container $service)
    docker exec "$id" /msa audit container --json >"$work/audit-$service.json" \
        || fail "$service: the audit found a high finding or failed: $(cat "$work/audit-$service.json")"
    python3 - "$work/audit-$service.json" "$service" <<'PY' || fail "$service: $(cat "$work/audit-$service.json")"
import json, sys
report, service = json.load(open(sys.argv[1])), sys.argv[2]
assert report["runtime"]["kind"] == "docker", report["runtime"]
# The inventory finds the service itself, with no ps in the image.
init = report["processes"]["list"][0]
assert init["pid"] == 1 and init["command"] == f"/msa serve {service}", init
assert not [f for f in report["findings"] if f["severity"] in ("high", "critical")]
PY
done

step "msa audit engine from the host: no finding names a container of the hardened stack"
"$msa_bin" audit engine --json >"$work/engine.json" 2>"$work/engine.err" \
    || [ $? = 1 ] || fail "msa audit engine: $(cat "$work/engine.err")"
python3 - "$work/engine.json" "$project" <<'PY' || fail "engine audit: $(cat "$work/engine.json")"
import json, sys
report, project = json.load(open(sys.argv[1])), sys.argv[2]
ours = [c["name"] for c in report["containers"] if c["name"].startswith(project)]
assert len(ours) == 4, ours
for finding in report["findings"]:
    for line in finding["evidence"]:
        assert not any(line.startswith(name + " ") for name in ours), (finding["id"], line)
gateway = [c for c in report["containers"] if c["name"] in ours and c["published"]]
assert gateway and all(p.startswith("127.0.0.1:") for p in gateway[0]["published"]), gateway
PY
echo "    4 containers, none in a finding; published: $(python3 -c 'import json,sys; print(*[p for c in json.load(open(sys.argv[1]))["containers"] for p in c["published"] if c["name"].startswith(sys.argv[2])])' "$work/engine.json" "$project")"

step "msa audit api, run from the image itself, against the published HTTPS port"
# Scratch has no CA store: the audit trusts only the stack's CA, given as a file (public,
# so readable by the container's unprivileged user).
chmod a+r "$work/ca.pem"
docker run --rm --network host --read-only --user 10001:10001 --cap-drop ALL \
    --security-opt no-new-privileges:true -v "$work/ca.pem:/ca.pem:ro" "$image" \
    audit api "$https" --ca-file /ca.pem >"$work/api-audit.txt" 2>"$work/api-audit.err" \
    || { cat "$work/api-audit.txt" "$work/api-audit.err"; fail "msa audit api found a failure"; }
tail -1 "$work/api-audit.txt"

step "product-service down: 503 where it is needed, the rest keeps working"
compose stop products >/dev/null 2>&1
answer=$(curl -s -D "$work/headers" "$base/api/v1/products/101")
grep -qi '^content-type: application/problem+json' "$work/headers" || fail "not a problem: $answer"
grep -q '"status":503' <<<"$answer" || fail "products down answered: $answer"
curl -fsS "$base/hello" >/dev/null || fail "/hello failed while products was down"
curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/auth/session" >/dev/null \
    || fail "sessions failed while products was down"

step "product-service back: the gateway recovers without a restart"
compose start products >/dev/null 2>&1
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "$base/api/v1/products/101"; do
    [ $SECONDS -lt $deadline ] || fail "products did not come back"
    sleep 1
done

step "tear down, leaving nothing behind"
compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; \
       docker network ls -q --filter "label=com.docker.compose.project=$project"; \
       docker volume ls -q --filter "label=com.docker.compose.project=$project")
[ -z "$left" ] || fail "left behind: $left"

step "the same stack on PostgreSQL (compose.postgres.yaml), passwords as secrets, in production mode"
bash deploy/postgres/build-image.sh
compose_files+=(--file deploy/compose.postgres.yaml)
export MSA_PRODUCTION=true
up_healthy 120 postgres users products orders gateway
docker cp "$(container gateway):/data/tls/ca.pem" "$work/ca.pem"
if docker cp "$(container users):/data/demo-credentials.json" "$work/none.json" 2>/dev/null; then
    fail "production mode wrote demo credentials"
fi
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "$https/api/v1/auth/login" \
    -H 'content-type: application/json' -d '{"email":"alice@example.com","password":"any twelve characters"}')
[ "$status" = 401 ] || fail "a demo account signs in in production mode: $status"

step "the first administrator: msa admin create in a one-off container of the users service"
head -c 18 /dev/urandom | base64 >"$work/admin-password"
chmod 0644 "$work/admin-password"
compose run --rm --no-deps -v "$work/admin-password:/run/admin-password:ro" users \
    admin create --email root@example.com --password-file /run/admin-password >"$work/admin.log" 2>&1 \
    || { cat "$work/admin.log"; fail "msa admin create"; }
rm -f "$jar"
curl -fsS --cacert "$work/ca.pem" -c "$jar" "$https/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"root@example.com\",\"password\":\"$(cat "$work/admin-password")\"}" \
    | grep -q '"role":"admin"' || fail "the administrator cannot sign in"
catalogue=$(curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/products") || fail "the catalogue"
grep -q '"items":\[\]' <<<"$catalogue" || fail "demo products in production mode: $catalogue"
added=$(curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/products" -H 'content-type: application/json' \
    -d '{"name":"Lamp","price_cents":1999,"stock":5}') || fail "the administrator adds a product"
product=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$added")
placed=$(curl -fsS --cacert "$work/ca.pem" -b "$jar" "$https/api/v1/orders" \
    -H 'Idempotency-Key: compose-pg-1' -H 'content-type: application/json' \
    -d "{\"items\":[{\"product_id\":$product,\"quantity\":1}]}") || fail "placing an order (postgres)"
grep -q '"status":"confirmed"' <<<"$placed" || fail "the order on PostgreSQL: $placed"
if compose run --rm --no-deps -v "$work/admin-password:/run/admin-password:ro" users \
    admin create --email root@example.com --password-file /run/admin-password >/dev/null 2>&1; then
    fail "a second msa admin create for the same address succeeded"
fi
for service in users products orders gateway; do
    env=$(docker inspect --format '{{json .Config.Env}}' "$(container $service)")
    if grep -q 'postgres://' <<<"$env"; then fail "$service has a database URL in its environment"; fi
done
compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1
echo "test-compose: ok"
