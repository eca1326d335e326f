#!/usr/bin/env bash
# Builds actionlint (the GitHub Actions workflow linter) from the pinned Go module (go.mod's
# `tool` directive) into a cache outside the repo, keyed by version and go.sum. Prints the
# binary's path. A warm cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" github.com/rhysd/actionlint)"
build_go_tool "$here" actionlint actionlint github.com/rhysd/actionlint \
  github.com/rhysd/actionlint/cmd/actionlint "-X github.com/rhysd/actionlint.version=${version#v}"
