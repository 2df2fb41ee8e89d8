-- POST /predict/text with a JSON body {"text": "..."} (the sentence is in BENCH_DATA_DIR/text.json).
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

bench.post("/predict/text", "application/json", bench.read("text.json"))
