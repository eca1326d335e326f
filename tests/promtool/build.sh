#!/usr/bin/env bash
# Builds promtool from the pinned Go module (go.mod's `tool` directive) into a cache outside the
# repo, keyed by version and go.sum. Prints the binary's path. A warm cache rebuilds nothing.
# The module is large: the cold build takes many minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/prometheus/prometheus)"
# What Prometheus' own build (promu) stamps, so `promtool --version` names the pinned release.
ldflags="-X github.com/prometheus/common/version.Version=${version#v}"
build_go_tool "$here" promtool promtool github.com/prometheus/prometheus \
  github.com/prometheus/prometheus/cmd/promtool "$ldflags"
