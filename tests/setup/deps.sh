#!/usr/bin/env bash
# What `make test` and `make demo` need on a bare Debian 12 machine, installed once: Debian's
# packages (PostgreSQL and MariaDB, WeasyPrint's libraries, podman/buildah, containerd/runc/CNI
# for the node, Java and Maven for veraPDF, LibreOffice for the XLSX check, qpdf and 7-Zip for
# protected files, Chromium for the console's browser test), Go 1.26+ when the machine's go is
# missing or older (tests/setup/go.sh), the Python packages (Playwright among them, driving
# Debian's Chromium: no `playwright install`, no browser download) and axe-core from npm. Quick
# when everything is there already.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
say() { echo "== $*" >&2; }

PACKAGES=(
  postgresql postgresql-client poppler-utils                                   # data, PDF checks
  mariadb-server mariadb-client                                               # MySQL sources
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core      # WeasyPrint
  podman buildah runc fuse-overlayfs uidmap debootstrap                       # images
  containerd containernetworking-plugins iptables conntrack busybox-static    # the real node
  openjdk-17-jre-headless maven                                               # veraPDF
  libreoffice-calc-nogui                                                      # XLSX check
  qpdf p7zip-full gpg                                                         # encryption
  shellcheck                                                                  # workflow scripts
  chromium                                                                    # console browser test
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages (run as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  start=$(date +%s)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  say "Debian packages installed in $(( $(date +%s) - start ))s"
fi

bash tests/setup/go.sh

stamp_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bulletin/pip"
stamp="$stamp_dir/$(cat pyproject.toml | sha256sum | cut -c1-16)-$(python3 -c 'import sys; print(sys.prefix.replace("/", "_"))')"
if [ ! -f "$stamp" ] || ! python3 -c "import bulletin, kopf, weasyprint" 2>/dev/null; then
  say "installing Python packages (pip install -e '.[dev]')"
  start=$(date +%s)
  export PIP_ROOT_USER_ACTION=ignore
  python3 -m pip install -q --upgrade pip
  python3 -m pip install -q -e ".[dev]"
  mkdir -p "$stamp_dir" && touch "$stamp"
  say "Python packages installed in $(( $(date +%s) - start ))s"
fi

# axe-core for the console's accessibility test (tests/integration/test_console_browser.py reads
# it from here, or from $BULLETIN_AXE).
axe_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bulletin/axe"
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null; then  # Debian's npm (NodeSource's nodejs brings its own)
    say "installing Debian's npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  say "installing axe-core (npm) into $axe_dir"
  mkdir -p "$axe_dir"
  npm install --silent --no-audit --no-fund --prefix "$axe_dir" axe-core@4 >/dev/null
fi
