#!/usr/bin/env bash
# Builds the kstatus checker (main.go against the pinned sigs.k8s.io/cli-utils) into a cache
# outside the repo, keyed by version, go.mod, go.sum and main.go. Prints the binary's path.
# A warm cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" sigs.k8s.io/cli-utils)"
src="$(sha256sum "$here/main.go" | cut -c1-8)"
cache="$(cache_dir kstatus "$here" "kstatus-${version}-${src}")"
bin="$cache/kstatus"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
cd "$here"
start=$(date +%s)
echo "building the kstatus checker (cli-utils $version) from its Go module (once)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" . >&2
mv "$bin.tmp" "$bin"
echo "built the kstatus checker in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
