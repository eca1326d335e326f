// Pins gopher-lua, the Lua engine inside Argo CD, to run our health check in tests. Nothing here
// is shipped: build.sh builds the runner into a cache outside the repo.
module bulletin.dev/luahealth

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
)
