#!/usr/bin/env bash
# Creates (or replaces) the Secrets the manifests read, in namespace msa-shop:
#   msa-token-keys    gateway, users, products, orders   each process's X25519 secret, from
#                                             which it derives the key of each token it
#                                             makes or checks (each mounted by its owner only)
#   msa-public-keys   the same four names    their public halves (every service)
#   msa-database      users-url ... gateway-url   PostgreSQL URLs, one database per service
#   msa-tls           tls.crt, tls.key       the gateway's HTTPS certificate
#
# Usage: make-secrets.sh KEYS_DIR TLS_CERT TLS_KEY
#   KEYS_DIR  where `msa keys --data-dir KEYS_DIR` keeps (or creates) the four keys
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

public=$("$msa" keys --data-dir "$keys_dir")
public_of() { sed -n "s/^MSA_${1}_PUBLIC_KEY=//p" <<<"$public"; }

apply() { kubectl --namespace msa-shop create secret "$@" --dry-run=client -o yaml | kubectl apply -f -; }
apply generic msa-token-keys \
    --from-file=gateway="$keys_dir/keys/gateway.key" --from-file=users="$keys_dir/keys/users.key" \
    --from-file=products="$keys_dir/keys/products.key" --from-file=orders="$keys_dir/keys/orders.key"
apply generic msa-public-keys \
    --from-literal=gateway="$(public_of GATEWAY)" --from-literal=users="$(public_of USERS)" \
    --from-literal=products="$(public_of PRODUCTS)" --from-literal=orders="$(public_of ORDERS)"
apply generic msa-database \
    --from-literal=users-url="$MSA_USERS_DATABASE_URL" \
    --from-literal=products-url="$MSA_PRODUCTS_DATABASE_URL" \
    --from-literal=orders-url="$MSA_ORDERS_DATABASE_URL" \
    --from-literal=gateway-url="$MSA_GATEWAY_DATABASE_URL"
apply tls msa-tls --cert="$tls_cert" --key="$tls_key"
