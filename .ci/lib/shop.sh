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

read -r gateway users products orders tls < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
data=$(mktemp -d)
"$bin" up --data-dir "$data" --log-level warn --gateway-port "$gateway" \
    --users-port "$users" --products-port "$products" --orders-port "$orders" \
    --tls-port "$tls" "$@" &
pid=$!
stop_shop() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
# Stop the shop first, then whatever the sourcing script registered for its exit.
previous_exit_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
trap "stop_shop; $previous_exit_trap" EXIT

base="http://127.0.0.1:$gateway"
https="https://localhost:$tls"
python3 - "$base/readyz" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200:
            break
    except Exception:
        pass
    if time.time() > deadline:
        sys.exit("msa up did not become ready")
    time.sleep(0.1)
PY
