# Sourced by bench/compare.sh and .ci/bench-smoke: makes what msa bench needs for its peers.
# nginx from Debian's packages (when missing and apt-get can install it), and the Flask peer's
# virtual environment in target/bench-venv from PyPI (pinned in bench/peers/requirements.txt).

if ! command -v nginx >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q nginx-light >/dev/null 2>&1 || apt-get install -y -q nginx >/dev/null
    else
        echo "nginx is needed for the gateway peer: install it (Debian: apt-get install nginx)" >&2
        exit 1
    fi
fi
if [ ! -x target/bench-venv/bin/python ] || ! target/bench-venv/bin/python -c 'import flask, gunicorn, requests' 2>/dev/null; then
    python3 -m venv target/bench-venv
    target/bench-venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -r bench/peers/requirements.txt
fi
