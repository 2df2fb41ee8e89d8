-- GET /: the health route, the HTTP floor of the course server (routing, a plain `def` in the thread pool,
-- JSON out; no model).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

wrk.method = "GET"
wrk.path = "/"
