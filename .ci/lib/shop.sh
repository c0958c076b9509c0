# Sourced by CI checks: builds msa, starts `msa up` on free loopback ports in a fresh
# data directory, waits until it is ready, and stops it on exit.
# Sets: bin, data, base (plain HTTP), https (HTTPS), pid. Extra `msa up` flags: "$@".
# MSA_PROFILE=release runs the release build instead of the debug one; MSA_BIN runs that
# binary as it is (such as the static release build the container test made).

if [ -n "${MSA_BIN:-}" ]; then
    bin=$MSA_BIN
else
    case "${MSA_PROFILE:-debug}" in
        release) cargo build --locked --release -p msa; bin=target/release/msa ;;
        *) cargo build --locked -p msa; bin=target/debug/msa ;;
    esac
fi

# Free ports below the kernel's ephemeral range: a port picked inside it can be taken by any
# outgoing connection between the pick and the bind (seen in CI right after an audit that
# made hundreds of connections).
pick_ports() {
    python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
picked = []
while len(picked) < 5:
    port = random.randrange(10000, low)
    if port in picked:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    picked.append(port)
print(*picked)
PY
}

data=$(mktemp -d)
stop_shop() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
# Stop the shop first, then whatever the sourcing script registered for its exit.
previous_exit_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
trap "stop_shop; $previous_exit_trap" EXIT

# Ready, or the reason it is not: `msa up` that exits early (a port taken after all) is tried
# again on other ports, twice at most.
for attempt in 1 2 3; do
    read -r gateway users products orders tls < <(pick_ports)
    "$bin" up --data-dir "$data" --log-level warn --gateway-port "$gateway" \
        --users-port "$users" --products-port "$products" --orders-port "$orders" \
        --tls-port "$tls" "$@" &
    pid=$!
    base="http://127.0.0.1:$gateway"
    https="https://localhost:$tls"
    if python3 - "$base/readyz" "$pid" <<'PY'
import os, sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200:
            break
    except Exception:
        pass
    try:
        os.kill(int(sys.argv[2]), 0)
    except OSError:
        sys.exit("msa up exited before it was ready")
    if time.time() > deadline:
        sys.exit("msa up did not become ready")
    time.sleep(0.1)
PY
    then
        break
    fi
    wait "$pid" 2>/dev/null || true
    [ "$attempt" -lt 3 ] || { echo "msa up did not start in 3 attempts" >&2; exit 1; }
done
