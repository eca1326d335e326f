#!/usr/bin/env bash
# Builds Versity Gateway (an S3-compatible server) from the pinned Go module into a cache
# outside the repo, keyed by version and go.sum. Prints the binary's path. A warm cache
# rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/versity/versitygw)"
build_go_tool "$here" s3server versitygw github.com/versity/versitygw \
  github.com/versity/versitygw/cmd/versitygw "-X main.Version=$version -X main.Build=go-module"
