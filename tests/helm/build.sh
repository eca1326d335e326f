#!/usr/bin/env bash
# Builds helm from the pinned Go module (go.mod's `tool` directive) into a cache outside the
# repo, keyed by version and go.sum. Prints the binary's path. A warm cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
version="$(module_version "$here" helm.sh/helm/v3)"
# What helm's own Makefile stamps: its version, and the Kubernetes version of its client-go
# (the default for .Capabilities.KubeVersion in `helm template` and `helm lint`).
client_go="$(module_version "$here" k8s.io/client-go)"
k8s_minor="${client_go#v0.}"; k8s_minor="${k8s_minor%%.*}"
ldflags="-X helm.sh/helm/v3/internal/version.version=$version"
ldflags="$ldflags -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
build_go_tool "$here" helm helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$ldflags"
