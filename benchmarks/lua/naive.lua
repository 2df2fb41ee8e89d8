-- POST /predict on the naive baseline (benchmarks/naive_app.py): the draft course's style, the picture sent
-- as JSON {"image": [[0..255, ...], ...]}, one list per row of grey pixels (BENCH_DATA_DIR/naive.json).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

bench.post("/predict", "application/json", bench.read("naive.json"))
