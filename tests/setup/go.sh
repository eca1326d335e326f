#!/usr/bin/env bash
# Go 1.26+ for the tools built from Go modules (control plane, node, helm, ...), installed once.
# Nothing happens when the go on PATH is new enough. Debian 12's golang-go is Go 1.19 (installed
# here when there is no go at all): it cannot build them, but it can fetch a complete Go from
# the Go module proxy, where each release is the module golang.org/toolchain (what GOTOOLCHAIN
# uses on Go 1.21+). That module's directory is linked as $BULLETIN_CACHE/go, and
# tests/gocache.sh, which every Go build script sources, puts its bin/ first on PATH.
set -euo pipefail
GO_MIN=26                 # Go 1.26 or newer
GO_RELEASE=go1.26.11      # the release fetched when the machine's Go is older
cache="${BULLETIN_CACHE:-$HOME/.cache/bulletin}"
link="$cache/go"
say() { echo "== $*" >&2; }

# The minor version of the go on PATH ("" when there is none); run outside any module.
go_minor() {
  command -v go >/dev/null || return 0
  (cd / && go version) | sed -nE 's/^go version go1\.([0-9]+).*/\1/p'
}

[ ! -x "$link/bin/go" ] || PATH="$link/bin:$PATH"  # fetched before
minor="$(go_minor)"
if [ -n "$minor" ] && [ "$minor" -ge "$GO_MIN" ]; then
  exit 0
fi
if [ -z "$minor" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "no go on PATH (run as root: apt-get install golang-go; Go 1.26 follows)" >&2
    exit 1
  fi
  say "installing Debian's golang-go, to fetch Go ${GO_RELEASE#go} with"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go \
    >/dev/null
fi
say "fetching Go ${GO_RELEASE#go} (go $(cd / && go version | cut -d' ' -f3) is older than 1.$GO_MIN)"
start=$(date +%s)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init bulletin.dev/gobootstrap >/dev/null 2>&1
module="golang.org/toolchain@v0.0.1-$GO_RELEASE.$(go env GOOS)-$(go env GOARCH)"
dir="$(go mod download -json "$module" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
# The module cache keeps no exec bits (Go 1.21+ sets them on first use, as done here).
chmod -R u+w "$dir"
find "$dir/bin" "$dir/pkg/tool" -type f -exec chmod 0755 {} +
mkdir -p "$cache"
ln -sfn "$dir" "$link"
"$link/bin/go" version >&2
say "Go ${GO_RELEASE#go} in $link (from $module) in $(( $(date +%s) - start ))s"
