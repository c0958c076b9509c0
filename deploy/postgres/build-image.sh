#!/usr/bin/env bash
# Builds msa-postgres:${MSA_IMAGE_TAG:-dev} from the PostgreSQL that Debian's packages
# installed on this machine (apt-get install postgresql), for the compose stack's
# PostgreSQL variant. Only what the server needs is copied, with the libraries ldd names.
set -euo pipefail
cd "$(dirname "$0")"

tag="msa-postgres:${MSA_IMAGE_TAG:-dev}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "build-image: install PostgreSQL first (apt-get install postgresql)" >&2; exit 1; }
version=$(basename "$(dirname "$bin")")

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root="$context/root"
mkdir -p "$root"
copy() { for path in "$@"; do cp --parents --dereference "$path" "$root/"; done; }
for program in "$bin/postgres" "$bin/initdb" "$bin/pg_isready" /bin/dash; do
    copy "$program"
    for library in $(ldd "$program" | grep -o '/[^ ]*'); do copy "$library"; done
done
# Loadable modules (plpgsql and friends; not the LLVM JIT, which is optional and huge) and
# the share files initdb reads.
for library in /usr/lib/postgresql/"$version"/lib/*.so; do
    case "$library" in */llvmjit*) continue ;; esac
    copy "$library"
    for dependency in $(ldd "$library" | grep -o '/[^ ]*'); do copy "$dependency"; done
done
mkdir -p "$root/usr/share/postgresql"
cp -a "/usr/share/postgresql/$version" "$root/usr/share/postgresql/"
copy /usr/share/zoneinfo/UTC /usr/share/zoneinfo/Etc/UTC
ln -s dash "$root/bin/sh"
# A path without the version, for health checks.
mkdir -p "$root/usr/local/bin"
ln -s "$bin/pg_isready" "$root/usr/local/bin/pg_isready"
mkdir -p "$root/etc" "$root/tmp" "$context/pgdata"
printf 'root:x:0:0::/:/nonexistent\npostgres:x:10002:10002::/var/lib/postgresql:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\npostgres:x:10002:\n' >"$root/etc/group"
install -m 0755 entrypoint "$root/entrypoint"
chmod -R a+rX "$root"
docker build --quiet --file Dockerfile --tag "$tag" "$context" >/dev/null
docker image inspect "$tag" --format "image $tag (PostgreSQL $version): {{.Size}} bytes"
