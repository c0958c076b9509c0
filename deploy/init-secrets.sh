#!/usr/bin/env bash
# Creates what the compose stack needs before its first start, in DIR (default
# deploy/secrets, which git ignores):
#   DIR/keys/{gateway,users,products,orders}.key   each process's X25519 secret, as compose
#                                               secrets (each mounted by its owner only)
#   DIR/public-keys.env                         the matching public keys, for every service
#   DIR/internal-tls/                           the internal CA's certificate (ca.pem), and
#       each service's certificate and key for mutual TLS (<name>.pem, <name>.key)
#   DIR/postgres/                               for compose.postgres.yaml: the superuser's
#       password, and per service a password and the database URL that uses it
# Existing keys are kept. Run with the image built (deploy/build-image.sh).
set -euo pipefail
cd "$(dirname "$0")"

dir=$(realpath -m "${1:-secrets}")
tag="msa-shop:${MSA_IMAGE_TAG:-dev}"
mkdir -p "$dir"
# Only the owner may enter the directory; the files inside are readable so that the
# container's unprivileged user can read its bind-mounted secret.
chmod 0700 "$dir"
docker run --rm --read-only --network none --cap-drop ALL \
    --security-opt no-new-privileges:true --user "$(id -u):$(id -g)" \
    --volume "$dir:/secrets" "$tag" \
    keys --data-dir /secrets >"$dir/public-keys.env"
chmod 0644 "$dir"/keys/{gateway,users,products,orders}.key
# The internal CA and each service's certificate for mutual TLS; the CA's key is not kept.
docker run --rm --read-only --network none --cap-drop ALL \
    --security-opt no-new-privileges:true --user "$(id -u):$(id -g)" \
    --volume "$dir:/secrets" "$tag" \
    certs --dir /secrets/internal-tls
chmod 0755 "$dir/internal-tls"
chmod 0644 "$dir"/internal-tls/*

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
mkdir -p "$dir/postgres"
if [ ! -s "$dir/postgres/postgres_password" ]; then
    secret >"$dir/postgres/postgres_password"
    for service in users products orders gateway; do
        password=$(secret)
        printf '%s\n' "$password" >"$dir/postgres/db_${service}_password"
        printf 'postgres://msa_%s:%s@postgres:5432/msa_%s\n' "$service" "$password" "$service" \
            >"$dir/postgres/db_${service}_url"
    done
    chmod 0644 "$dir"/postgres/*
fi
# Compose reads deploy/.env by itself: with the default directory, a plain
# `docker-compose -f deploy/compose.yaml up -d` then finds the public keys.
if [ "$dir" = "$(realpath -m secrets)" ]; then
    cp "$dir/public-keys.env" .env
fi
echo "secrets in $dir:"
ls -l "$dir"
