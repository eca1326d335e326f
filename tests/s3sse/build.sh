#!/usr/bin/env bash
# Builds MinIO (an S3-compatible server that encrypts objects: SSE-S3 and SSE-KMS with a static
# key) from the pinned Go module into a cache outside the repo, keyed by version and go.sum.
# Prints the binary's path. A warm cache rebuilds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../gocache.sh"
build_go_tool "$here" s3sse minio github.com/minio/minio github.com/minio/minio
