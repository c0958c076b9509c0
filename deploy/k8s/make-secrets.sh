#!/usr/bin/env bash
# Creates (or replaces) the Secrets the manifests mount as files, in namespace msa-shop:
#   msa-token-keys    gateway, users, products, orders   each process's X25519 secret(s), from
#                                             which it derives the key of each token it
#                                             makes or checks (each mounted by its owner only)
#   msa-public-keys   public-keys            every process's public keys, one file
#   msa-database      users-url ... gateway-url   PostgreSQL URLs, one database per service
#   msa-internal-tls  ca.pem, <name>.pem, <name>.key   the internal CA's certificate and each
#                                             service's certificate and key for mutual TLS
#   msa-tls           tls.crt, tls.key       the gateway's HTTPS certificate
#
# Usage: make-secrets.sh KEYS_DIR TLS_CERT TLS_KEY
#   KEYS_DIR  where `msa keys --data-dir KEYS_DIR` keeps (or creates) the four keys and the
#             public keys file, and `msa certs` the internal CA's certificates (created once,
#             kept after). Run again after each `msa keys rotate --step` on KEYS_DIR: the
#             kubelet updates the mounted files and each process re-reads its keys.
#   and MSA_{USERS,PRODUCTS,ORDERS,GATEWAY}_DATABASE_URL in the environment.
# Nothing is written to the repository; the values travel only to the cluster.
set -euo pipefail

keys_dir=${1:?KEYS_DIR}
tls_cert=${2:?TLS_CERT}
tls_key=${3:?TLS_KEY}
msa=${MSA_BIN:-msa}
for service in USERS PRODUCTS ORDERS GATEWAY; do
    var="MSA_${service}_DATABASE_URL"
    [ -n "${!var:-}" ] || { echo "make-secrets: set $var" >&2; exit 1; }
done

# Creates the key files if missing and (re)writes KEYS_DIR/keys/public-keys from them.
"$msa" keys --data-dir "$keys_dir" >/dev/null
# Creates the CA and the four certificates once; an existing set is kept.
"$msa" certs --dir "$keys_dir/internal-tls"

apply() { kubectl --namespace msa-shop create secret "$@" --dry-run=client -o yaml | kubectl apply -f -; }
apply generic msa-token-keys \
    --from-file=gateway="$keys_dir/keys/gateway.key" --from-file=users="$keys_dir/keys/users.key" \
    --from-file=products="$keys_dir/keys/products.key" --from-file=orders="$keys_dir/keys/orders.key"
apply generic msa-public-keys --from-file=public-keys="$keys_dir/keys/public-keys"
apply generic msa-database \
    --from-literal=users-url="$MSA_USERS_DATABASE_URL" \
    --from-literal=products-url="$MSA_PRODUCTS_DATABASE_URL" \
    --from-literal=orders-url="$MSA_ORDERS_DATABASE_URL" \
    --from-literal=gateway-url="$MSA_GATEWAY_DATABASE_URL"
tls_dir="$keys_dir/internal-tls"
internal=(--from-file=ca.pem="$tls_dir/ca.pem")
for service in gateway users products orders; do
    internal+=(--from-file="$service.pem=$tls_dir/$service.pem" --from-file="$service.key=$tls_dir/$service.key")
done
apply generic msa-internal-tls "${internal[@]}"
apply tls msa-tls --cert="$tls_cert" --key="$tls_key"
