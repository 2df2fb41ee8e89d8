-- POST /predict/pixels with a JSON body {"images": [one 8x8 list of 0..16]} (BENCH_DATA_DIR/pixels.json).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

bench.post("/predict/pixels", "application/json", bench.read("pixels.json"))
