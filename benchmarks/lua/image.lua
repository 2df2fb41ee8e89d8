-- POST /predict/image: a real PNG (BENCH_DATA_DIR/digit.png) as multipart/form-data, field "file".
-- The body is built once, here, with a fixed boundary; wrk sends the same bytes on every request.
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

local boundary = "----course-api-bench-7MA4YWxkTrZu0gW"
local png = bench.read("digit.png")
local body = table.concat({
   "--" .. boundary,
   'Content-Disposition: form-data; name="file"; filename="digit.png"',
   "Content-Type: image/png",
   "",
   png,
   "--" .. boundary .. "--",
   "",
}, "\r\n")

bench.post("/predict/image", "multipart/form-data; boundary=" .. boundary, body)
