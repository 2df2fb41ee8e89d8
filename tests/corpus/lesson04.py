"""Lesson 04, serving a model: answers students write for the exercises of solutions/04_serving_a_model.ipynb."""

from __future__ import annotations

from corpus import changed, correct, mistake

RESET = """
app = FastAPI(title="My model API")
"""

# The worked answer of 04.2 and 04.3 with one part changed: most mistakes are one line off.
TOP3 = """
@app.post("/top3")
def top3(file: UploadFile) -> dict:
    try:
        image = decode_image(file.file.read(), max_pixels=4096 * 4096)
    except ImageError as error:
        raise HTTPException(status_code=415, detail=str(error)) from None
    probabilities = service.digit_probabilities(digit_pixels(image)[None])[0]
    best = np.argsort(probabilities)[::-1][:3]
    return {"top3": [{"digit": int(d), "probability": float(probabilities[d])} for d in best]}
"""

THUMBNAIL = """
MAX_BYTES = 100_000


@app.post("/thumbnail")
def thumbnail(file: UploadFile) -> Response:
    data = file.file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise HTTPException(status_code=413, detail=f"Upload at most {MAX_BYTES} bytes.")
    try:
        image = decode_image(data, max_pixels=4096 * 4096)
    except ImageError as error:
        raise HTTPException(status_code=415, detail=str(error)) from None
    buffer = io.BytesIO()
    image.convert("RGB").resize((32, 32)).save(buffer, format="PNG")
    return Response(content=buffer.getvalue(), media_type="image/png")
"""


def top3(old: str, new: str) -> str:
    assert old in TOP3, old
    return TOP3.replace(old, new)


def thumbnail(old: str, new: str) -> str:
    assert old in THUMBNAIL, old
    return THUMBNAIL.replace(old, new)


SIZE_LIMIT = """\
    if len(data) > MAX_BYTES:
        raise HTTPException(status_code=413, detail=f"Upload at most {MAX_BYTES} bytes.")
"""
SEVEN = 'files={"file": ("seven.png", digit_png(7), "image/png")}'

CASES = [
    # 04.1 uploading an image
    mistake(
        "04.1",
        "sends the bytes as the raw body with data=",
        """
upload_response = requests.post(
    f"{base_url}/predict/image", data=digit_png(7), headers={"Content-Type": "image/png"}, timeout=10
)
""",
        "not multipart/form-data",
        "files=",
    ),
    mistake(
        "04.1",
        "names the form field image",
        """
upload_response = requests.post(
    f"{base_url}/predict/image", files={"image": ("seven.png", digit_png(7), "image/png")}, timeout=10
)
""",
        "422",
        "no form field named 'file'",
        "['image']",
    ),
    mistake(
        "04.1",
        "posts to /predict",
        f"""
upload_response = requests.post(f"{{base_url}}/predict", {SEVEN}, timeout=10)
""",
        "POST /predict/image",
    ),
    mistake(
        "04.1",
        "stores .json() instead of the response",
        f"""
upload_response = requests.post(f"{{base_url}}/predict/image", {SEVEN}, timeout=10).json()
""",
        "is a dict",
        "without .json()",
    ),
    mistake(
        "04.1",
        "uses requests.get",
        f"""
upload_response = requests.get(f"{{base_url}}/predict/image", {SEVEN}, timeout=10)
""",
        "was a GET",
        "requests.post",
    ),
    mistake(
        "04.1",
        "uploads the 1 instead of the 7",
        """
upload_response = requests.post(
    f"{base_url}/predict/image", files={"file": ("one.png", digit_png(1), "image/png")}, timeout=10
)
""",
        "not digit_png(7)",
    ),
    correct(
        "04.1",
        "a Session and a file object",
        """
with requests.Session() as session:
    upload_response = session.post(
        base_url + "/predict/image", files={"file": ("7.png", io.BytesIO(digit_png(7)), "image/png")}, timeout=5
    )
""",
    ),
    correct(
        "04.1",
        "only the bytes in files=",
        """
seven = digit_png(7)
upload_response = requests.post(f"{base_url}/predict/image", files={"file": seven}, timeout=10)
""",
    ),
    # 04.2 an endpoint for the top 3 digits
    mistake(
        "04.2",
        "no try/except: a text file crashes the route",
        """
@app.post("/top3")
def top3(file: UploadFile) -> dict:
    image = decode_image(file.file.read(), max_pixels=4096 * 4096)
    probabilities = service.digit_probabilities(digit_pixels(image)[None])[0]
    best = np.argsort(probabilities)[::-1][:3]
    return {"top3": [{"digit": int(d), "probability": float(probabilities[d])} for d in best]}
""",
        "crashed /top3 with a 500",
        "raised ImageError",
        "line 4: image = decode_image(",
        "status_code=415",
    ),
    mistake(
        "04.2",
        "catches Pillow's UnidentifiedImageError, not ImageError",
        top3("except ImageError as error:", "except UnidentifiedImageError as error:").replace(
            "@app.post", "from PIL import UnidentifiedImageError\n\n\n@app.post"
        ),
        "crashed /top3 with a 500",
        "raised ImageError",
    ),
    mistake(
        "04.2",
        "returns NumPy numbers",
        top3(
            '{"digit": int(d), "probability": float(probabilities[d])}', '{"digit": d, "probability": probabilities[d]}'
        ),
        "numpy.int64",
        "int() or float()",
    ),
    mistake(
        "04.2",
        "returns NumPy numbers from a route without a return type",
        top3("-> dict:", ":").replace(
            '{"digit": int(d), "probability": float(probabilities[d])}', '{"digit": d, "probability": probabilities[d]}'
        ),
        "numpy.int64",
        "int() or float()",
    ),
    mistake(
        "04.2",
        "the three least likely digits",
        top3("np.argsort(probabilities)[::-1][:3]", "np.argsort(probabilities)[:3]"),
        "from most to least likely",
    ),
    mistake(
        "04.2",
        "the last three of argsort, least likely first",
        top3("np.argsort(probabilities)[::-1][:3]", "np.argsort(probabilities)[-3:]"),
        "from most to least likely",
        "reverse",
    ),
    mistake(
        "04.2",
        "returns the logits",
        top3(
            "probabilities = service.digit_probabilities(digit_pixels(image)[None])[0]",
            "probabilities = service.digits(torch.from_numpy(digit_pixels(image))[None]).detach().numpy()[0]",
        ).replace("@app.post", "import torch\n\n\n@app.post"),
        "logits",
        "softmax",
    ),
    mistake(
        "04.2",
        "forgets [0]: a batch of one row",
        top3(
            "probabilities = service.digit_probabilities(digit_pixels(image)[None])[0]",
            "probabilities = service.digit_probabilities(digit_pixels(image)[None])",
        ),
        "TypeError",
        "while the check sent POST /top3",
        "[0]",
    ),
    mistake(
        "04.2",
        "answers 400 for a text file",
        top3("status_code=415", "status_code=400"),
        "got 400",
        "415",
    ),
    mistake(
        "04.2",
        "returns the HTTPException instead of raising it",
        top3(
            "raise HTTPException(status_code=415, detail=str(error)) from None", "return HTTPException(415, str(error))"
        ),
        "instead of raising it",
        "raise HTTPException(status_code=415",
    ),
    mistake(
        "04.2",
        "returns the HTTPException from a route without a return type",
        top3("-> dict:", ":").replace(
            "raise HTTPException(status_code=415, detail=str(error)) from None", "return HTTPException(415, str(error))"
        ),
        "instead of raising it",
    ),
    mistake(
        "04.2",
        "loads the model in the route",
        top3(
            "probabilities = service.digit_probabilities(",
            "model = ModelService.load(Settings().weights_dir)\n    probabilities = model.digit_probabilities(",
        ),
        "loads the model",
        "`service`",
    ),
    mistake(
        "04.2",
        "async route that does not await file.read()",
        top3("def top3", "async def top3").replace("file.file.read()", "file.read()"),
        "coroutine",
        "await file.read()",
    ),
    mistake(
        "04.2",
        "decode_image without max_pixels",
        top3("decode_image(file.file.read(), max_pixels=4096 * 4096)", "decode_image(file.file.read())"),
        "TypeError",
        "max_pixels=",
    ),
    mistake(
        "04.2",
        "passes the UploadFile to decode_image",
        top3("decode_image(file.file.read(),", "decode_image(file,"),
        "not the UploadFile",
        "file.file.read()",
    ),
    mistake(
        "04.2",
        "calls the argument image",
        top3("def top3(file: UploadFile)", "def top3(image: UploadFile)").replace(
            "file.file.read()", "image.file.read()"
        ),
        "422",
        "must be named file",
    ),
    mistake(
        "04.2",
        "returns the list without the top3 key",
        top3('return {"top3": [', "return [")
        .replace("for d in best]}", "for d in best]")
        .replace("-> dict", "-> list"),
        "'top3'",
        "a list",
    ),
    mistake(
        "04.2",
        "@app.get instead of @app.post",
        top3('@app.post("/top3")', '@app.get("/top3")'),
        "405",
        "@app.get vs @app.post",
    ),
    mistake(
        "04.2",
        "the same route twice under two names",
        TOP3 + top3("def top3", "def top_three"),
        "defined twice",
        "first matching route",
    ),
    correct(
        "04.2",
        "async, await file.read(), and the error's own status",
        """
@app.post("/top3")
async def top3(file: UploadFile):
    data = await file.read()
    try:
        image = decode_image(data, max_pixels=10_000_000)
    except ImageError as error:
        raise HTTPException(status_code=error.status, detail=str(error))
    probabilities = service.digit_probabilities(digit_pixels(image))[0]
    ranked = sorted(range(10), key=lambda digit: probabilities[digit], reverse=True)
    return {"top3": [{"digit": digit, "probability": round(float(probabilities[digit]), 4)} for digit in ranked[:3]]}
""",
    ),
    correct(
        "04.2",
        "Annotated[UploadFile, File()] and np.argsort of the negated probabilities",
        """
from typing import Annotated


@app.post("/top3")
def top3(file: Annotated[UploadFile, File(description="A PNG or JPEG of one digit")]) -> dict:
    data = file.file.read()
    try:
        pixels = digit_pixels(decode_image(data, max_pixels=4096 * 4096))
    except ImageError as error:
        raise HTTPException(415, f"Not an image: {error}") from error
    probabilities = service.digit_probabilities(pixels[None])[0].tolist()
    best = np.argsort(-np.array(probabilities))[:3]
    return {"top3": [{"digit": int(d), "probability": probabilities[d]} for d in best]}
""",
    ),
    correct(
        "04.2",
        "the older = File(...) default",
        top3("def top3(file: UploadFile)", "def top3(file: UploadFile = File(...))"),
    ),
    # 04.3 refusing images that are too large
    mistake(
        "04.3",
        "no size limit",
        thumbnail(
            SIZE_LIMIT,
            "",
        ).replace("file.file.read(MAX_BYTES + 1)", "file.file.read()"),
        "got 200",
        "413",
    ),
    mistake(
        "04.3",
        "reads only 100,000 bytes, so it never sees more",
        thumbnail("file.file.read(MAX_BYTES + 1)", "file.file.read(MAX_BYTES)"),
        "not 413",
        "one byte more",
    ),
    mistake(
        "04.3",
        "off by one: >= instead of >",
        thumbnail("if len(data) > MAX_BYTES:", "if len(data) >= MAX_BYTES:"),
        "exactly 100,000 bytes got 413",
        "not >=",
    ),
    mistake(
        "04.3",
        "limits the pixels, not the bytes",
        thumbnail(
            SIZE_LIMIT,
            "",
        )
        .replace("file.file.read(MAX_BYTES + 1)", "file.file.read()")
        .replace(
            "    buffer = io.BytesIO()",
            "    if image.width * image.height > MAX_BYTES:\n"
            '        raise HTTPException(status_code=413, detail="Too many pixels.")\n'
            "    buffer = io.BytesIO()",
        ),
        "100,001 bytes",
        "got 200",
        "len(data)",
    ),
    mistake(
        "04.3",
        "answers 400 for a large upload",
        thumbnail("status_code=413", "status_code=400"),
        "got 400",
        "413",
    ),
    mistake(
        "04.3",
        "answers 422 for a large upload",
        thumbnail("status_code=413", "status_code=422"),
        "got 422",
        "too large gets 413",
    ),
    mistake(
        "04.3",
        "returns the PNG bytes without a Response",
        thumbnail('return Response(content=buffer.getvalue(), media_type="image/png")', "return buffer.getvalue()"),
        "UnicodeDecodeError",
        "Response(content=",
    ),
    mistake(
        "04.3",
        "forgets media_type",
        thumbnail('Response(content=buffer.getvalue(), media_type="image/png")', "Response(content=buffer.getvalue())"),
        "not image/png",
        'media_type="image/png"',
    ),
    mistake(
        "04.3",
        "Image.thumbnail keeps the shape",
        thumbnail(
            'image.convert("RGB").resize((32, 32)).save(buffer, format="PNG")',
            'image.thumbnail((32, 32))\n    image.save(buffer, format="PNG")',
        ),
        "32x19",
        "resize((32, 32))",
    ),
    mistake(
        "04.3",
        "saves a JPEG",
        thumbnail('save(buffer, format="PNG")', 'save(buffer, format="JPEG")'),
        "JPEG",
        'format="PNG"',
    ),
    mistake(
        "04.3",
        "no 415: a text file crashes the route",
        thumbnail(
            "    try:\n        image = decode_image(data, max_pixels=4096 * 4096)\n"
            "    except ImageError as error:\n"
            "        raise HTTPException(status_code=415, detail=str(error)) from None\n",
            "    image = decode_image(data, max_pixels=4096 * 4096)\n",
        ),
        "crashed /thumbnail with a 500",
        "raised ImageError",
    ),
    correct(
        "04.3",
        "async, reads it all, resizes without convert",
        """
@app.post("/thumbnail")
async def thumbnail(file: UploadFile):
    data = await file.read()
    if len(data) > 100_000:
        raise HTTPException(413, "The upload is larger than 100,000 bytes.")
    try:
        image = decode_image(data, max_pixels=5000 * 5000)
    except ImageError as error:
        raise HTTPException(415, str(error))
    out = io.BytesIO()
    image.resize((32, 32)).save(out, "PNG")
    return Response(out.getvalue(), media_type="image/png")
""",
    ),
    correct(
        "04.3",
        "file.size before reading, Annotated and a status constant",
        """
from typing import Annotated

from fastapi import status


@app.post("/thumbnail")
def thumbnail(file: Annotated[UploadFile, File()]) -> Response:
    if file.size is not None and file.size > 100_000:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "Upload at most 100,000 bytes.")
    try:
        small = decode_image(file.file.read(), max_pixels=4096 * 4096).convert("L").resize((32, 32))
    except ImageError as error:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(error)) from None
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return Response(content=buffer.getvalue(), media_type="image/png")
""",
    ),
    # 04.4 p50 and p99
    mistake(
        "04.4",
        "the mean instead of the median",
        """
def latency_summary(samples: list[float]) -> dict:
    return {"p50": float(np.mean(samples)), "p99": float(np.percentile(samples, 99)), "max": float(max(samples))}
""",
        "p50",
        "that is the mean",
        "median",
    ),
    mistake(
        "04.4",
        "percentiles as fractions",
        """
def latency_summary(samples: list[float]) -> dict:
    return {
        "p50": float(np.percentile(samples, 50)),
        "p99": float(np.percentile(samples, 0.99)),
        "max": float(max(samples)),
    }
""",
        "p99",
        "write 99, not 0.99",
    ),
    mistake(
        "04.4",
        "formats the numbers as text",
        """
def latency_summary(samples: list[float]) -> dict:
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50": f"{p50:.1f} ms", "p99": f"{p99:.1f} ms", "max": f"{max(samples):.1f} ms"}
""",
        "a str",
        "return numbers",
    ),
    mistake(
        "04.4",
        "an index one past the end for a single time",
        """
def latency_summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50": ordered[round(len(ordered) * 0.5)],
        "p99": ordered[round(len(ordered) * 0.99)],
        "max": ordered[-1],
    }
""",
        "IndexError",
        "line 6",
        "indexes 0 to n - 1",
    ),
    mistake(
        "04.4",
        "returns a tuple",
        """
def latency_summary(samples: list[float]) -> tuple:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99)), float(max(samples))
""",
        "should return a dict",
        "'p50', 'p99' and 'max'",
    ),
    mistake(
        "04.4",
        "calls p50 the median",
        """
def latency_summary(samples: list[float]) -> dict:
    return {"median": float(np.median(samples)), "p99": float(np.percentile(samples, 99)), "max": max(samples)}
""",
        "the keys ['max', 'median', 'p99']",
        "'p50'",
    ),
    mistake(
        "04.4",
        "the p99 is the maximum",
        """
def latency_summary(samples: list[float]) -> dict:
    return {"p50": float(np.median(samples)), "p99": max(samples), "max": max(samples)}
""",
        "p99 is",
        "that is the slowest time",
    ),
    correct(
        "04.4",
        "both percentiles in one call, NumPy numbers",
        """
def latency_summary(samples):
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50": p50, "p99": p99, "max": np.max(samples)}
""",
    ),
    correct(
        "04.4",
        "the nearest rank, by hand",
        """
import math
import statistics


def latency_summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    rank = math.ceil(0.99 * len(ordered))
    return {"p50": statistics.median(ordered), "p99": ordered[rank - 1], "max": ordered[-1]}
""",
    ),
]

# The project's files (the code is the file's text; the cell's first line, %%writefile my_api/..., comes first).
SERVING = """
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from safetensors.torch import load_file

from my_api.model import DigitCNN

WEIGHTS = Path(__file__).parent / "digits.safetensors"
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(path: Path, device: torch.device) -> DigitCNN:
    model = DigitCNN()
    model.load_state_dict(load_file(path))
    return model.to(device).eval()


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.model = load_model(WEIGHTS, DEVICE)
    yield
    app.state.model = None


def get_model(request: Request) -> DigitCNN:
    return request.app.state.model
"""

MAIN = """
from typing import Annotated

import torch
from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from pydantic import BaseModel

from my_api.model import DigitCNN
from my_api.preprocess import BrokenImage, NotAnImage, open_picture, to_pixels
from my_api.serving import DEVICE, WEIGHTS, get_model, lifespan, load_model

MAX_UPLOAD_BYTES = 1_000_000
app = FastAPI(title="My model API", lifespan=lifespan)


class Health(BaseModel):
    status: str
    model_loaded: bool


class Prediction(BaseModel):
    digit: int
    probability: float


@app.get("/health")
def health(request: Request) -> Health:
    return Health(status="ok", model_loaded=getattr(request.app.state, "model", None) is not None)


@app.post("/predict")
def predict(file: UploadFile, model: Annotated[DigitCNN, Depends(get_model)]) -> Prediction:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail=f"Upload at most {MAX_UPLOAD_BYTES:,} bytes.")
    try:
        pixels = to_pixels(open_picture(data))
    except NotAnImage as error:
        raise HTTPException(status_code=415, detail=str(error)) from None
    except BrokenImage as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    batch = torch.from_numpy(pixels)[None].to(DEVICE)
    with torch.inference_mode():
        probabilities = torch.softmax(model(batch), dim=1)[0]
    return Prediction(digit=int(probabilities.argmax()), probability=float(probabilities.max()))
"""


CASES += [
    # 04.5 load the model once (my_api/serving.py)
    mistake(
        "04.5",
        "torch.load of the safetensors file",
        changed(SERVING, "model.load_state_dict(load_file(path))", "model.load_state_dict(torch.load(path))"),
        "calls torch.load(...)",
        "load_file",
    ),
    mistake(
        "04.5",
        "the weights' path relative to wherever the server starts",
        changed(SERVING, 'Path(__file__).parent / "digits.safetensors"', 'Path("digits.safetensors")'),
        "FileNotFoundError",
        "Path(__file__).parent",
    ),
    mistake(
        "04.5",
        "no eval(): the model stays in training mode",
        changed(SERVING, "return model.to(device).eval()", "return model.to(device)"),
        "training mode",
        ".eval()",
    ),
    mistake(
        "04.5",
        "a DigitCNN without its trained weights",
        changed(SERVING, "    model.load_state_dict(load_file(path))\n", ""),
        "random weights",
        "load_state_dict",
    ),
    mistake(
        "04.5",
        "get_model loads a new model for each request",
        changed(SERVING, "return request.app.state.model", "return load_model(WEIGHTS, DEVICE)"),
        "a new model for each request",
    ),
    mistake(
        "04.5",
        "a lifespan without yield",
        changed(SERVING, "    yield\n    app.state.model = None\n", ""),
        "must `yield` once",
    ),
    mistake(
        "04.5",
        "a lifespan that waits forever before its yield",
        changed(
            SERVING, "    yield\n", "    await asyncio.Event().wait()  # until someone sets it: never\n    yield\n"
        ).replace("from contextlib import", "import asyncio\nfrom contextlib import"),
        "did not start answering",
        "never reaches `yield`",
    ),
    mistake(
        "04.5",
        "the model kept in a local variable, not in app.state",
        changed(
            SERVING, "    app.state.model = load_model(WEIGHTS, DEVICE)\n", "    model = load_model(WEIGHTS, DEVICE)\n"
        ),
        "'State' object has no attribute 'model'",
        "store the model there",
    ),
    mistake(
        "04.5",
        "a GPU this machine does not have",
        changed(SERVING, 'torch.device("cuda" if torch.cuda.is_available() else "cpu")', 'torch.device("cuda:7")'),
        "torch.cuda.is_available()",
    ),
    correct(
        "04.5",
        "the weights straight onto the device, and mps on a Mac",
        """
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from safetensors.torch import load_file

from my_api.model import DigitCNN

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "digits.safetensors"
if torch.cuda.is_available():
    DEVICE = torch.device("cuda")
elif torch.backends.mps.is_available():
    DEVICE = torch.device("mps")
else:
    DEVICE = torch.device("cpu")


def load_model(path, device):
    model = DigitCNN().to(device)
    model.load_state_dict(load_file(path, device=str(device)))
    model.eval()
    return model


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.model = load_model(WEIGHTS, DEVICE)
    print("model loaded on", DEVICE)
    yield


def get_model(request: Request):
    return request.app.state.model
""",
    ),
    # 04.6 POST /predict, backed by the model (my_api/main.py)
    mistake(
        "04.6",
        "the model loaded for each request",
        changed(
            MAIN,
            "def predict(file: UploadFile, model: Annotated[DigitCNN, Depends(get_model)])",
            "def predict(file: UploadFile)",
        ).replace(
            "    batch = torch.from_numpy", "    model = load_model(WEIGHTS, DEVICE)\n    batch = torch.from_numpy"
        ),
        "reads digits.safetensors for each request",
    ),
    mistake(
        "04.6",
        "logits, not probabilities",
        changed(MAIN, "torch.softmax(model(batch), dim=1)[0]", "model(batch)[0]"),
        "softmax",
    ),
    mistake(
        "04.6",
        "no error handling: a text file crashes the route",
        changed(
            MAIN,
            """    try:
        pixels = to_pixels(open_picture(data))
    except NotAnImage as error:
        raise HTTPException(status_code=415, detail=str(error)) from None
    except BrokenImage as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
""",
            "    pixels = to_pixels(open_picture(data))\n",
        ),
        "answered 500",
        "NotAnImage",
    ),
    mistake(
        "04.6",
        "every bad upload is a 400",
        changed(
            MAIN,
            "except NotAnImage as error:\n        raise HTTPException(status_code=415",
            "except NotAnImage as error:\n        raise HTTPException(status_code=400",
        ),
        "answered 400",
        "415",
    ),
    mistake(
        "04.6",
        "a PNG cut short answers 415",
        changed(
            MAIN,
            "except BrokenImage as error:\n        raise HTTPException(status_code=422",
            "except BrokenImage as error:\n        raise HTTPException(status_code=415",
        ),
        "cut short",
        "422",
    ),
    mistake(
        "04.6",
        "exactly 1,000,000 bytes refused",
        changed(MAIN, "if len(data) > MAX_UPLOAD_BYTES:", "if len(data) >= MAX_UPLOAD_BYTES:"),
        "still allowed",
    ),
    mistake(
        "04.6",
        "the upload's argument called image",
        changed(MAIN, "def predict(file: UploadFile,", "def predict(image: UploadFile,").replace(
            "data = file.file.read", "data = image.file.read"
        ),
        "form field `file`",
    ),
    mistake(
        "04.6",
        "the answer without a response model",
        changed(MAIN, "Depends(get_model)]) -> Prediction:", "Depends(get_model)]) -> dict:").replace(
            "return Prediction(digit=int(probabilities.argmax()), probability=float(probabilities.max()))",
            'return {"digit": int(probabilities.argmax()), "probability": float(probabilities.max())}',
        ),
        "without the response model Prediction",
    ),
    mistake(
        "04.6",
        "health does not say whether the model is loaded",
        changed(MAIN, "    model_loaded: bool\n", "").replace(
            'Health(status="ok", model_loaded=getattr(request.app.state, "model", None) is not None)',
            'Health(status="ok")',
        ),
        '"model_loaded": true',
    ),
    mistake(
        "04.6",
        "numpy() on a tensor outside inference_mode",
        changed(
            MAIN,
            """    with torch.inference_mode():
        probabilities = torch.softmax(model(batch), dim=1)[0]
    return Prediction(digit=int(probabilities.argmax()), probability=float(probabilities.max()))""",
            """    probabilities = torch.softmax(model(batch), dim=1)[0].numpy()
    return Prediction(digit=int(probabilities.argmax()), probability=float(probabilities.max()))""",
        ),
        "requires grad",
        "inference_mode",
    ),
    correct(
        "04.6",
        "an async route, response_model=, and the upload read with await",
        """
from typing import Annotated

import torch
from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from pydantic import BaseModel

from my_api.model import DigitCNN
from my_api.preprocess import BrokenImage, NotAnImage, open_picture, to_pixels
from my_api.serving import DEVICE, get_model, lifespan

MAX_UPLOAD_BYTES = 1_000_000
app = FastAPI(title="Digits", lifespan=lifespan)
Model = Annotated[DigitCNN, Depends(get_model)]


class Health(BaseModel):
    status: str = "ok"
    model_loaded: bool = False


class Prediction(BaseModel):
    digit: int
    probability: float


@app.get("/health", response_model=Health)
async def health(request: Request):
    return {"status": "ok", "model_loaded": hasattr(request.app.state, "model")}


@app.post("/predict", response_model=Prediction)
async def predict(file: Annotated[UploadFile, File()], model: Model):
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, "The picture is too large: at most 1 MB.")
    try:
        image = open_picture(data)
    except NotAnImage as error:
        raise HTTPException(415, str(error)) from None
    except BrokenImage as error:
        raise HTTPException(422, str(error)) from None
    with torch.inference_mode():
        logits = model(torch.tensor(to_pixels(image), device=DEVICE).unsqueeze(0))
        probabilities = logits.softmax(dim=1).squeeze(0).cpu()
    best = int(probabilities.argmax())
    return {"digit": best, "probability": probabilities[best].item()}
""",
    ),
]

TESTS = """
from fastapi.testclient import TestClient

from course_api.samples import digit_png
from my_api.main import app


def test_health_says_the_model_is_loaded():
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok", "model_loaded": True}


def test_a_seven_is_read_as_a_seven():
    with TestClient(app) as client:
        response = client.post("/predict", files={"file": ("seven.png", digit_png(7), "image/png")})
    assert response.status_code == 200
    assert response.json()["digit"] == 7


def test_a_text_file_gets_415():
    with TestClient(app) as client:
        response = client.post("/predict", files={"file": ("notes.txt", b"not a picture", "text/plain")})
    assert response.status_code == 415
"""

CASES += [
    # 04.7 tests for your API (my_api/tests/test_main.py)
    mistake(
        "04.7",
        "functions whose names do not start with test_",
        TESTS.replace("def test_", "def check_"),
        "found no test",
        "starts with test_",
    ),
    mistake(
        "04.7",
        "a client without with: the lifespan never runs",
        TESTS.replace(
            "    with TestClient(app) as client:\n        assert", "    client = TestClient(app)\n    assert"
        ).replace(
            '    with TestClient(app) as client:\n        response = client.post("/predict", files={"file": ("seven',
            '    client = TestClient(app)\n    response = client.post("/predict", files={"file": ("seven',
        ),
        "fail on your own API",
        "with TestClient(app) as client:",
    ),
    mistake(
        "04.7",
        "a test that expects the wrong digit",
        changed(TESTS, 'assert response.json()["digit"] == 7', 'assert response.json()["digit"] == 1'),
        "fail on your own API",
    ),
    mistake(
        "04.7",
        "the prediction test checks only the status",
        changed(TESTS, '    assert response.json()["digit"] == 7\n', ""),
        "always answers 0",
    ),
    mistake(
        "04.7",
        "no test of a bad upload",
        changed(
            TESTS,
            'files={"file": ("notes.txt", b"not a picture", "text/plain")})\n    assert response.status_code == 415',
            'files={"file": ("seven.png", digit_png(7), "image/png")})\n    assert response.status_code == 200',
        ),
        "answers 500",
        "415",
    ),
    mistake(
        "04.7",
        "the app imported as main",
        changed(TESTS, "from my_api.main import app", "from main import app"),
        "from my_api.main import app",
    ),
    mistake(
        "04.7",
        "only one test",
        TESTS.split("\n\ndef test_a_seven")[0] + "\n",
        "write at least three",
    ),
    mistake(
        "04.7",
        "tests that never call the API",
        """
def test_health():
    assert True


def test_predict():
    assert 7 == 7


def test_415():
    assert 415 > 400
""",
        "broken copy",
    ),
    correct(
        "04.7",
        "a fixture for the client, several digits, and a stand-in model",
        """
import pytest
import torch
from fastapi.testclient import TestClient

from course_api.samples import digit_png
from my_api.main import app
from my_api.serving import get_model


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


def test_health(client):
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["model_loaded"] is True


@pytest.mark.parametrize("digit", [0, 3, 7])
def test_held_out_digits(client, digit):
    answer = client.post("/predict", files={"file": (f"{digit}.png", digit_png(digit), "image/png")})
    assert answer.json()["digit"] == digit


def test_not_an_image(client):
    answer = client.post("/predict", files={"file": ("a.txt", b"hello", "text/plain")})
    assert answer.status_code == 415
    assert answer.json()["detail"]


class AlwaysFour(torch.nn.Module):
    def forward(self, batch):
        logits = torch.zeros(len(batch), 10)
        logits[:, 4] = 5.0
        return logits


def test_the_route_with_a_stand_in_model():
    app.dependency_overrides[get_model] = lambda: AlwaysFour()
    try:
        with TestClient(app) as client:
            answer = client.post("/predict", files={"file": ("7.png", digit_png(7), "image/png")})
    finally:
        app.dependency_overrides.clear()
    assert answer.json()["digit"] == 4
""",
    ),
]
