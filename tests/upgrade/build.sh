#!/usr/bin/env bash
# The release an upgrade starts from (tests/upgrade/FROM, a commit of this repository): its
# tree, exported once into the cache, and its two images built from it by its own
# tests/images/build.sh (content-tagged and cached like ours). Prints one JSON object:
#   {"ref": ..., "chart": <its charts/bulletin>, "images": {"operator": {...}, "runner": {...}}}
# Run outside the test network namespace (image builds need the package registry).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ref="$(tr -d '[:space:]' < "$here/FROM")"
cache="${BULLETIN_CACHE:-$HOME/.cache/bulletin}/upgrade"
src="$cache/src-${ref:0:12}"
mkdir -p "$cache"
if [ ! -f "$src/.exported" ]; then
  rm -rf "$src" && mkdir -p "$src"
  git -C "$repo" archive "$ref" | tar -x -C "$src"
  touch "$src/.exported"
fi
built="$(bash "$src/tests/images/build.sh")"
# Its archives, kept here: the image cache keeps only the newest few builds of each image.
mkdir -p "$cache/images"
for archive in $(printf '%s' "$built" | python3 -c '
import json, sys
for image in json.load(sys.stdin)["images"].values(): print(image["archive"])'); do
  [ -f "$cache/images/${archive##*/}" ] || cp "$archive" "$cache/images/${archive##*/}.part"
  [ -f "$cache/images/${archive##*/}" ] || mv "$cache/images/${archive##*/}.part" "$cache/images/${archive##*/}"
done
find "$cache/images" -name '*.tar' -mtime +30 -delete  # releases no longer started from
built="${built//$(dirname "$archive")/$cache/images}"
printf '{"ref": "%s", "chart": "%s", "built": %s}\n' "$ref" "$src/charts/bulletin" "$built" \
  | tee "$cache/from.json"
