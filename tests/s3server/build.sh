#!/usr/bin/env bash
# Builds Versity Gateway (an S3-compatible server) from the pinned Go module into a cache
# outside the repo, keyed by version and go.sum. Prints the binary's path. A warm cache
# rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/versity/versitygw)"
cache="$(cache_dir s3server "$here" "versitygw-${version}")"
bin="$cache/versitygw"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
cd "$here"
start=$(date +%s)
echo "building the S3 server versitygw $version from its Go module (once)" >&2
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X main.Version=$version -X main.Build=go-module" \
  -o "$bin.tmp" github.com/versity/versitygw/cmd/versitygw >&2
mv "$bin.tmp" "$bin"
echo "built versitygw $version in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
