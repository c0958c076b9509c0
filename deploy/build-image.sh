#!/usr/bin/env bash
# Builds the static `msa` binary (glibc, statically linked, release profile with LTO) and
# the `FROM scratch` image around it: msa-shop:${MSA_IMAGE_TAG:-dev}. Needs no registry.
# MSA_IMAGE_PROFILE=dev builds with the dev profile instead: minutes faster to rebuild while
# working on what runs inside the container, never for an image anyone deploys.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="msa-shop:${MSA_IMAGE_TAG:-dev}"
target=x86_64-unknown-linux-gnu
profile=${MSA_IMAGE_PROFILE:-release}
# cargo auditable records the crates the binary is built from in a section of it
# (.dep-v0), so `msa audit image --sbom cyclonedx`, trivy or syft list them from the image.
if ! cargo auditable --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-auditable (crates.io)"
    cargo install --locked --quiet cargo-auditable@0.7.7
fi
echo "==> static $profile build of msa ($target), with its dependency list (cargo auditable)"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo auditable build --profile "$profile" --locked -p msa --target "$target"
[ "$profile" = dev ] && directory=debug || directory=$profile
binary="target/$target/$directory/msa"
# A dynamically linked binary names its loader (PT_INTERP); scratch has none to offer.
if readelf --program-headers "$binary" | grep -q INTERP; then
    echo "build-image: $binary is dynamically linked" >&2
    exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/msa"
mkdir "$context/data"
echo "==> docker build $tag"
docker build --quiet --file deploy/Dockerfile --tag "$tag" "$context"
docker image inspect "$tag" --format 'image {{.Id}}: {{.Size}} bytes'
