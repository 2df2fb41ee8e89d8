-- POST /predict/image: a real PNG (BENCH_DATA_DIR/digit.png) as multipart/form-data, field "file".
-- The body is built once (bench.post_png in common.lua); wrk sends the same bytes on every request.
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

bench.post_png("/predict/image")
