# Shared by the Go build scripts (sourced): pinned versions, and cache directories outside the
# repo keyed by go.mod + go.sum, so a warm machine rebuilds nothing.

# module_version DIR MODULE: the version DIR/go.mod requires of MODULE.
module_version() {
  awk -v m="$2" '$1==m && $2 ~ /^v/ {print $2; exit}' "$1/go.mod"
}

# cache_dir KIND DIR TAG: where the build of the module in DIR is cached.
cache_dir() {
  local sum
  sum="$(cat "$2/go.mod" "$2/go.sum" | sha256sum | cut -c1-12)"
  echo "${BULLETIN_CACHE:-$HOME/.cache/bulletin}/$1/${3}_${sum}"
}
