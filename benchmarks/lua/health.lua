-- GET /: the health route, the HTTP floor of a server (routing, JSON out; no model). The course server's is an
-- `async def` with a response model (scenario `health`); the plain peer's a bare `async def` (`plain-health`).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

wrk.method = "GET"
wrk.path = "/"
