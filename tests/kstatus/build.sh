#!/usr/bin/env bash
# Builds the kstatus checker (main.go against the pinned sigs.k8s.io/cli-utils) into a cache
# outside the repo, keyed by version, go.sum and main.go. Prints the binary's path. A warm
# cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
src="$(sha256sum "$here/main.go" | cut -c1-12)"
build_go_tool "$here" "kstatus/$src" kstatus sigs.k8s.io/cli-utils .
