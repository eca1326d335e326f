# Shared by the image scripts (sourced): podman settings, the cache directory, timing helpers.

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$IMAGES_DIR/../.." && pwd)"
export CONTAINERS_CONF="$IMAGES_DIR/containers.conf"
IMAGE_CACHE="${BULLETIN_CACHE:-$HOME/.cache/bulletin}/images"
mkdir -p "$IMAGE_CACHE"

# say MESSAGE: progress on stderr, so stdout stays machine-readable.
say() { echo "images: $*" >&2; }

# timed LABEL CMD...: run CMD and report how long it took.
timed() {
  local label="$1" start=$SECONDS
  shift
  "$@"
  say "$label took $((SECONDS - start)) s"
}

# image_mb IMAGE: the image's size in MB (as `podman image inspect` reports it).
image_mb() {
  podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f", $1 / 1e6}'
}

# require CMD...: fail with one clear line when a tool is missing.
require() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || { say "$cmd not found: apt-get install podman buildah runc fuse-overlayfs uidmap debootstrap"; exit 1; }
  done
}
