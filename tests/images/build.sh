#!/usr/bin/env bash
# Build Bulletin's two images on the local base (tests/images/base.sh) and save them as
# archives that `ctr -n k8s.io images import` and `podman load` accept.
#   localhost/bulletin-{operator,runner}:dev   and   :<hash of the build inputs>
#   ~/.cache/bulletin/images/bulletin-{operator,runner}-<hash>.tar
# An image whose inputs are unchanged is not rebuilt. Progress goes to stderr; stdout is one
# JSON object describing the images (tests/images/__init__.py reads it).
# Usage: build.sh [operator|runner]...   (default: both)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require podman

# inputs IMAGE: the files the image is built from (what .dockerignore lets through).
inputs() {
  local srcs=(runner/bulletin)
  case "$1" in
    operator) srcs+=(operator/bulletin_operator) ;;
    runner) srcs+=(templates) ;;
  esac
  (cd "$REPO_DIR" && find "Dockerfile.$1" .dockerignore pyproject.toml tests/images/venvspec.py \
    "${srcs[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z)
}

# content_tag IMAGE BASE: a hash of the build inputs and the base image.
content_tag() {
  { echo "$2"; inputs "$1" | (cd "$REPO_DIR" && xargs -0 sha256sum); } | sha256sum | cut -c1-12
}

prune_old() {
  local image="$1" name="$2" old
  for old in $(ls -t "$IMAGE_CACHE/bulletin-$image-"*.tar 2>/dev/null | tail -n +4); do
    rm -f "$old"
    old="${old##*/bulletin-$image-}"
    podman rmi -f "$name:${old%.tar}" >/dev/null 2>&1 || true
  done
}

build_one() {
  local image="$1" base="$2" tag name archive
  tag="$(content_tag "$image" "$base")"
  name="localhost/bulletin-$image"
  archive="$IMAGE_CACHE/bulletin-$image-$tag.tar"
  if podman image exists "$name:$tag" && [ -f "$archive" ]; then
    say "$name:$tag is up to date"
  else
    timed "building $name:$tag" podman build -q --network host \
      -v /etc/ssl/certs:/etc/ssl/certs:ro --build-arg "BASE_IMAGE=$base" \
      -f "$REPO_DIR/Dockerfile.$image" -t "$name:$tag" "$REPO_DIR" >/dev/null
    # Keep the newest few builds per image (parallel checkouts each use their own); older
    # archives and their content tags go (layers stay cached).
    prune_old "$image" "$name"
    timed "saving $archive" podman save -q --format docker-archive -o "$archive.part" "$name:$tag"
    mv "$archive.part" "$archive"
  fi
  podman tag "$name:$tag" "$name:dev"
  local mb base_mb
  mb="$(image_mb "$name:$tag")"
  base_mb="$(image_mb "$base")"
  say "$name:$tag  $archive  $mb MB, $((mb - base_mb)) MB above the base"
  printf '"%s": {"image": "%s", "dev": "%s", "archive": "%s", "mb": %s, "base_mb": %s}' \
    "$image" "$name:$tag" "$name:dev" "$archive" "$mb" "$base_mb"
}

main() {
  local images=("$@") base sep="" image
  [ ${#images[@]} -gt 0 ] || images=(operator runner)
  base="$("$IMAGES_DIR/base.sh")"
  printf '{"base": "%s", "images": {' "$base"
  for image in "${images[@]}"; do
    case "$image" in operator|runner) ;; *) say "unknown image $image"; exit 2 ;; esac
    printf '%s' "$sep"
    build_one "$image" "$base"
    sep=", "
  done
  printf '}}\n'
}

start=$SECONDS
exec 9>"$IMAGE_CACHE/build.lock"
flock 9  # one build at a time on this machine (tests and tools may call this together)
main "$@"
say "done in $((SECONDS - start)) s"
