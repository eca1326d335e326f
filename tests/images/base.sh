#!/usr/bin/env bash
# A local base image from Debian's own packages (no container registry needed): debootstrap's
# minbase with python3, plus a venv on PATH so `python` and `pip` behave as in the official
# python image. Cached by its inputs as an archive under ~/.cache/bulletin/images and loaded
# into podman storage only when missing. Prints the image name on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SUITE="${BULLETIN_DEBIAN_SUITE:-bookworm}"

# The machine's Debian mirror (deb822 .sources files first, then sources.list).
debian_mirror() {
  local uri
  uri="$(awk '/^URIs:/ {u=$2} /^Suites:/ && u ~ /debian\/?$/ && $0 ~ /[ ]'"$SUITE"'( |$)/ {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  [ -n "$uri" ] || uri="$(awk '$1=="deb" && $3=="'"$SUITE"'" && $2 ~ /debian\/?$/ {print $2; exit}' \
    /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR="${BULLETIN_DEBIAN_MIRROR:-$(debian_mirror)}"
SUM="$( { cat "${BASH_SOURCE[0]}"; echo "$SUITE $MIRROR"; } | sha256sum | cut -c1-12)"
IMAGE="localhost/bulletin-base:$SUM"
ARCHIVE="$IMAGE_CACHE/base-$SUM.tar"

build_rootfs() {
  local root="$1"
  require debootstrap
  say "debootstrap $SUITE from $MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
  # Like Debian's slim images: no docs, man pages or translations, now or from later apt-get.
  cat >"$root/etc/dpkg/dpkg.cfg.d/bulletin-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*
  chroot "$root" /usr/bin/python3 -m venv /opt/python
  chroot "$root" /opt/python/bin/python -m pip --version >&2
  find "$root/opt/python" -name __pycache__ -prune -exec rm -rf {} +
}

build() {
  local tmp
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/bulletin-base.XXXXXX")"
  timed "debootstrap" build_rootfs "$tmp/root"
  tar -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  podman import -q \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    "$tmp/rootfs.tar" "$IMAGE" >/dev/null
  podman save -q --format docker-archive -o "$ARCHIVE.part" "$IMAGE"
  mv "$ARCHIVE.part" "$ARCHIVE"
  rm -rf "$tmp"
}

require podman
if podman image exists "$IMAGE"; then
  say "base $IMAGE present in podman storage"
elif [ -f "$ARCHIVE" ]; then
  timed "loading $ARCHIVE" podman load -q -i "$ARCHIVE" >/dev/null
else
  timed "building $IMAGE" build
fi
say "base $IMAGE: $(image_mb "$IMAGE") MB"
echo "$IMAGE"
