#!/usr/bin/env bash
# Builds actionlint (the GitHub Actions workflow linter) from the pinned Go module (go.mod's
# `tool` directive) into a cache outside the repo, keyed by version and go.sum. Prints the
# binary's path. A warm cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/rhysd/actionlint)"
cache="$(cache_dir actionlint "$here" "actionlint-${version}")"
bin="$cache/actionlint"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
cd "$here"
start=$(date +%s)
echo "building actionlint $version from its Go module (once)" >&2
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/rhysd/actionlint.version=${version#v}" \
  -o "$bin.tmp" github.com/rhysd/actionlint/cmd/actionlint >&2
mv "$bin.tmp" "$bin"
echo "built actionlint $version in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
