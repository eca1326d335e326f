#!/usr/bin/env bash
# Builds the Prometheus server from the pinned Go module (go.mod's `tool` directive) into a cache
# outside the repo, keyed by version and go.sum. Prints the binary's path. A warm cache rebuilds
# nothing. The module is large: the cold build takes minutes. Without the `builtinassets` build
# tag the binary has no web UI; the tests only use its HTTP API.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/prometheus/prometheus)"
ldflags="-X github.com/prometheus/common/version.Version=${version#v}"
build_go_tool "$here" prometheus prometheus github.com/prometheus/prometheus \
  github.com/prometheus/prometheus/cmd/prometheus "$ldflags"
