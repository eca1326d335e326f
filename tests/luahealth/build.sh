#!/usr/bin/env bash
# Builds the Argo CD health-check runner (main.go against the pinned gopher-lua) into a cache
# outside the repo, keyed by version, go.sum and main.go. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
src="$(sha256sum "$here/main.go" | cut -c1-12)"
build_go_tool "$here" "luahealth/$src" luahealth github.com/yuin/gopher-lua .
