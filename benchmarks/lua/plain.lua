-- POST /predict on the plain peer (benchmarks/plain_app.py): the same PNG as image.lua, the same multipart body
-- (field "file"), to a twenty-line `async def` upload route without micro-batching.
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

bench.post_png("/predict")
