#!/usr/bin/env bash
# Builds the node: kubelet, kube-proxy and kube-scheduler from the same pinned k8s.io/kubernetes
# as tests/controlplane (this go.mod is the control plane's plus the node's extra packages, no
# version changed, so the Go build cache is shared and this is quick after the control plane
# build), and a static "pause" sandbox binary from pause.c (gcc). Cached outside the repo, keyed
# by go.mod + go.sum (Go binaries) and by pause.c (pause). Prints the bin directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$here"
source "$here/../gocache.sh"
k8s_version="$(module_version "$module" k8s.io/kubernetes)"
planes="$(module_version "$here/../controlplane" k8s.io/kubernetes)"
if [ "$k8s_version" != "$planes" ]; then
  echo "tests/node/go.mod pins k8s.io/kubernetes $k8s_version, tests/controlplane $planes" >&2
  exit 1
fi
cache="$(cache_dir node "$module" "k8s-${k8s_version}")"
bin="$cache/bin"
pause_key="$(sha256sum "$here/pause.c" | cut -c1-12)"
cmds=(kubelet kube-proxy kube-scheduler)

have_go=1
for cmd in "${cmds[@]}"; do [ -x "$bin/$cmd" ] || have_go=0; done
if [ "$have_go" = 0 ]; then
  mkdir -p "$bin.tmp"
  cd "$module"
  minor="${k8s_version#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  start=$(date +%s)
  echo "building ${cmds[*]} from Go modules (once)" >&2
  for cmd in "${cmds[@]}"; do
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2
  done
  [ ! -d "$bin" ] || cp -p "$bin"/pause* "$bin.tmp"/ 2>/dev/null || true
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  echo "built ${cmds[*]} in $(( $(date +%s) - start ))s into $bin" >&2
fi

if [ ! -x "$bin/pause" ] || [ "$(cat "$bin/pause.key" 2>/dev/null)" != "$pause_key" ]; then
  gcc -static -Os -s -Wall -Werror -o "$bin/pause.tmp" "$here/pause.c" >&2
  mv "$bin/pause.tmp" "$bin/pause"
  echo "$pause_key" > "$bin/pause.key"
fi
echo "$bin"
