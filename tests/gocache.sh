# Shared by the Go build scripts (sourced): pinned versions, and cache directories outside the
# repo keyed by go.mod + go.sum, so a warm machine rebuilds nothing.

# The Go that tests/setup/go.sh fetched, on a machine whose own is older than 1.26, goes first.
[ ! -x "${BULLETIN_CACHE:-$HOME/.cache/bulletin}/go/bin/go" ] \
  || PATH="${BULLETIN_CACHE:-$HOME/.cache/bulletin}/go/bin:$PATH"

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

# build_go_tool DIR KIND NAME MODULE PACKAGE [LDFLAGS]: build PACKAGE (a command of MODULE, at
# the version DIR/go.mod pins) into the cache once, as NAME; prints the binary's path.
build_go_tool() {
  local dir="$1" kind="$2" name="$3" module="$4" package="$5" ldflags="-s -w ${6:-}"
  local version cache bin start
  version="$(module_version "$dir" "$module")"
  cache="$(cache_dir "$kind" "$dir" "${name}-${version}")"
  bin="$cache/$name"
  if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    start=$(date +%s)
    echo "building $name $version from its Go module (once)" >&2
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$package" >&2)
    mv "$bin.tmp" "$bin"
    echo "built $name $version in $(( $(date +%s) - start ))s into $bin" >&2
  fi
  echo "$bin"
}
