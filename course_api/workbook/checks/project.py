"""Checks for the student's own project, ``my_api/``, which grows from worksheet 03 on: each starts the app as a
terminal would and judges it over HTTP, as a client would (:mod:`course_api.workbook.checks.student_app`)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from course_api.workbook.checks.common import json_body
from course_api.workbook.checks.registry import exercise, fail
from course_api.workbook.checks.student_app import StudentApp, project_folder, running_app


def _paths(app: StudentApp) -> dict[str, Any]:
    """The app's OpenAPI paths (what /docs shows)."""
    answer = app.get("/openapi.json")
    if answer.status_code != 200:
        fail(f"GET /openapi.json answered {answer.status_code}: keep FastAPI's documentation on (the default).")
    paths: dict[str, Any] = json_body(answer, "GET /openapi.json").get("paths", {})
    return paths


def _response_schema(paths: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    """The JSON schema of a route's 200 response, as /openapi.json describes it."""
    content = paths.get(path, {}).get(method, {}).get("responses", {}).get("200", {}).get("content", {})
    schema: dict[str, Any] = content.get("application/json", {}).get("schema", {})
    return schema


@exercise(
    "03.9",
    "your own API, in a file of its own",
    needs=(),
    files=("my_api/main.py",),
    points=2,
    hints=(
        'Read section 1 of notebooks/03_fastapi.ipynb ("A first main.py"): %%writefile writes a cell into a file. '
        "Your file is my_api/main.py, and it needs its own imports: a file does not see the notebook's.",
        "In the file: import FastAPI and BaseModel; app = FastAPI(title=...); class Health(BaseModel) with "
        "status: str; and a route for GET /health whose function returns a Health. Declare the response's type with "
        "the return annotation (-> Health) or response_model=Health, as in sections 7 and 8.",
        '@app.get("/health") on def health() -> Health: return Health(status="ok"). The cell starts with the line '
        "%%writefile my_api/main.py, and nothing else may stand before it.",
    ),
)
def _03_9(ns: dict[str, Any]) -> str:
    folder = project_folder(ns)
    with running_app(folder) as app:
        answer = app.get("/health")
        paths = _paths(app)
        if answer.status_code == 404:
            fail(
                f"GET /health answered 404: your app has no such route. Its routes: {', '.join(paths) or 'none'}. "
                'Declare it with @app.get("/health").'
            )
        if answer.status_code != 200:
            fail(f"GET /health answered {answer.status_code}: {answer.text[:300]}")
        body = json_body(answer, "GET /health")
        if not isinstance(body, dict) or body.get("status") != "ok":  # later worksheets add fields
            fail(f'GET /health answered {body!r}; it should answer {{"status": "ok"}}.')
        schema = _response_schema(paths, "/health")
        if "Health" not in str(schema.get("$ref", "")):
            fail(
                "GET /health answers the right JSON, but without the response model Health: /docs cannot show "
                "what it answers. Declare it: def health() -> Health (or response_model=Health)."
            )
    return (
        f"{folder.name}/main.py started as its own server (uvicorn {folder.name}.main:app), and GET /health "
        "answered with your Health model."
    )


# ---------------------------------------------------------------------------------------------------- 04.5
GIVEN = ("model.py", "preprocess.py")  # the files the course gives the project in worksheet 04

# The check's own app, next to a copy of the project: the student's lifespan and get_model, and one route that
# describes the model that get_model gives.
HARNESS = '''"""The course's check of my_api/serving.py: your lifespan and get_model, and a route about the model."""
from pathlib import Path
from typing import Any

import torch
from fastapi import Depends, FastAPI

from my_api.serving import get_model, lifespan

app = FastAPI(lifespan=lifespan)


@app.get("/model")
def describe(model: Any = Depends(get_model)) -> dict:
    parameters = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    return {
        "type": type(model).__name__,
        "training": bool(getattr(model, "training", False)),
        "devices": sorted({str(p.device) for p in parameters}),
        "checksum": sum(float(p.detach().double().sum()) for p in parameters),
        "id": id(model),
    }
'''


def _given_files(folder: Path) -> None:
    from course_api.workbook.checks.registry import ExerciseNotDone

    missing = [name for name in (*GIVEN, "digits.safetensors") if not (folder / name).is_file()]
    if missing:
        raise ExerciseNotDone(
            f'{folder.name}/ has no {", ".join(missing)} yet: run the three cells under "Your project: your API '
            'serves the model" first.'
        )


def _no_pickle(folder: Path) -> None:
    for path in sorted(folder.rglob("*.py")):
        if "torch.load(" in path.read_text(encoding="utf-8", errors="replace"):
            fail(
                f"{folder.name}/{path.name} calls torch.load(...): that reads pickle files, which can run code hidden "
                "in them, and digits.safetensors is not one. Use safetensors.torch.load_file(path), then "
                "model.load_state_dict(...)."
            )


def shipped_checksum() -> float:
    """The sum of every weight in the course's digits_cnn.safetensors (what a correctly loaded model holds)."""
    from safetensors.torch import load_file

    from course_api.server.settings import Settings

    tensors = load_file(Settings().weights_dir / "digits_cnn.safetensors")
    return sum(float(tensor.double().sum()) for tensor in tensors.values())


def _judge_model(first: dict[str, Any], second: dict[str, Any]) -> None:
    import torch

    if first["type"] == "NoneType":
        fail(
            "get_model gave None: the lifespan must store the loaded model in app.state.model before its yield, "
            "and get_model return request.app.state.model."
        )
    if first["type"] != "DigitCNN":
        fail(f"get_model gave a {first['type']}, not the DigitCNN of my_api/model.py loaded by load_model.")
    if first["id"] != second["id"]:
        fail(
            "get_model gave a new model for each request: load the model once, in the lifespan, and let get_model "
            "return that one (request.app.state.model)."
        )
    if first["training"]:
        fail(
            "The model is in training mode, so its Dropout layer answers at random (notebook 04, section 2): end "
            "load_model with .eval()."
        )
    if abs(first["checksum"] - shipped_checksum()) > 1e-6 * max(1.0, abs(first["checksum"])):
        fail(
            "The model's weights are not those of digits.safetensors: a fresh DigitCNN() has random weights. Load "
            "them into it with model.load_state_dict(load_file(path))."
        )
    if torch.cuda.is_available() and first["devices"] == ["cpu"]:
        fail("This machine has a CUDA GPU, and the model is on the CPU: choose DEVICE with torch.cuda.is_available().")


@exercise(
    "04.5",
    "load the model once",
    needs=(),
    files=("my_api/serving.py",),
    points=2,
    hints=(
        "Read section 1 of notebooks/04_serving_a_model.ipynb: serving.py holds what that section builds (a "
        "loading function, the lifespan handler, the dependency), for your project's own model and weights file.",
        "A file sees only its own imports: Path, torch, FastAPI and Request, load_file from safetensors.torch, and "
        'DigitCNN from my_api.model. WEIGHTS is Path(__file__).parent / "digits.safetensors". load_model builds '
        "DigitCNN(), calls load_state_dict(load_file(path)), then .to(device) and .eval(). The lifespan stores it in "
        "app.state.model, then yields; get_model(request) returns request.app.state.model.",
        "@asynccontextmanager on async def lifespan(app: FastAPI): app.state.model = load_model(WEIGHTS, DEVICE); "
        "yield; app.state.model = None. And def get_model(request: Request) -> DigitCNN: return "
        "request.app.state.model.",
    ),
)
def _04_5(ns: dict[str, Any]) -> str:
    from course_api.workbook.checks.student_app import project_copy, require_sources

    folder = project_folder(ns)
    require_sources(folder, "serving.py")
    _given_files(folder)
    _no_pickle(folder)
    with project_copy(folder) as copied:
        (copied.parent / "_course_check.py").write_text(HARNESS, encoding="utf-8")
        with running_app(copied, target="_course_check:app") as app:
            answers = [app.get("/model") for _ in range(2)]
            for answer in answers:
                no_crash(app, answer, copied, "A route that asks get_model for the model")
            first, second = (json_body(answer, "GET /model (the check's route)") for answer in answers)
    _judge_model(first, second)
    return f"the lifespan loads the trained DigitCNN once, in evaluation mode, on {first['devices'][0]}."


# ---------------------------------------------------------------------------------------------------- 04.6
MAX_UPLOAD_BYTES = 1_000_000


def _post(app: StudentApp, data: bytes, name: str = "digit.png", content_type: str = "image/png") -> Any:
    return app.post("/predict", files={"file": (name, data, content_type)})


def no_crash(app: StudentApp, answer: Any, folder: Path, request: str) -> None:
    """Fail with what the app printed when ``request`` got a 500."""
    from course_api.workbook.checks.student_app import server_error

    if answer.status_code >= 500:
        message = server_error(app.error_output(), folder, request)
        if "digits.safetensors" in message and "FileNotFoundError" in message:
            message = (
                f"{request} failed once the weights file was gone: your app reads digits.safetensors for each "
                "request. Load the model once, in the lifespan, and hand it to the route with Depends(get_model).\n"
                + message
            )
        fail(message)


def _missing_fields(answer: Any) -> list[str]:
    """The request's fields that FastAPI's 422 says are missing (the last part of each error's "loc")."""
    if answer.status_code != 422:
        return []
    try:
        errors = answer.json().get("detail", [])
    except (ValueError, AttributeError):
        return []
    return [str(e["loc"][-1]) for e in errors if isinstance(e, dict) and e.get("type") == "missing" and e.get("loc")]


def _predictions(app: StudentApp, folder: Path) -> tuple[int, list[float]]:
    """(how many of twenty held-out digits the app reads right, the probabilities it gave)."""
    from course_api.samples import digit_png

    right, probabilities = 0, []
    for index in (0, 1):
        for digit in range(10):
            answer = _post(app, digit_png(digit, index))
            request = f"POST /predict with a held-out {digit}"
            no_crash(app, answer, folder, request)
            expected = _missing_fields(answer)
            if expected and "file" not in expected:
                fail(
                    f"{request} got 422: your route expects a form field named {expected[0]!r}, and the upload is "
                    "the form field `file` (as in a browser's form): name the argument file: UploadFile."
                )
            if answer.status_code != 200:
                fail(f"{request} answered {answer.status_code}: {answer.text[:300]}")
            body = json_body(answer, request)
            if not isinstance(body, dict) or set(body) != {"digit", "probability"}:
                fail(f'{request} answered {body!r}; it should answer {{"digit": ..., "probability": ...}}.')
            right += body["digit"] == digit
            probabilities.append(body["probability"])
    return right, probabilities


def judge_predictions(app: StudentApp, folder: Path) -> None:
    from course_api.samples import digit_png

    right, probabilities = _predictions(app, folder)
    if not all(isinstance(p, int | float) and 0 <= p <= 1 for p in probabilities):
        fail(
            f"The probabilities are not between 0 and 1 ({probabilities[:3]}...): the model answers logits; "
            "torch.softmax(logits, dim=1) turns them into probabilities."
        )
    again = [json_body(_post(app, digit_png(7)), "POST /predict")["probability"] for _ in range(3)]
    if max(again) - min(again) > 1e-6:
        fail(
            f"The same picture got three different probabilities ({', '.join(f'{p:.4f}' for p in again)}): the model "
            "is in training mode, and its Dropout layer answers at random. load_model must end with .eval()."
        )
    if right < 18:
        fail(
            f"Your API read {right} of 20 held-out digits right (the course's model reads 19 or 20): is the input "
            "to_pixels(open_picture(data)), a batch of one (pixels[None]), and the prediction the argmax of the "
            "softmax?"
        )


def _expect_4xx(app: StudentApp, folder: Path, data: bytes, name: str, content_type: str, status: int) -> None:
    request = f"POST /predict with {name}"
    answer = _post(app, data, name, content_type)
    no_crash(app, answer, folder, request)
    if answer.status_code != status:
        why = {
            413: f"more than {MAX_UPLOAD_BYTES:,} bytes is too large: 413",
            415: "a file that is not a PNG or JPEG (NotAnImage) is the wrong type of file: 415",
            422: "a PNG that is cut short (BrokenImage) is the right type, but unreadable: 422",
        }[status]
        fail(f"{request} answered {answer.status_code}: {why}, raised as an HTTPException. {answer.text[:200]}")
    is_json = answer.headers.get("content-type", "").startswith("application/")
    body = json_body(answer, request) if is_json else {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str) or not detail.strip():
        fail(f"{request} answered {status} without a detail: say what to fix, HTTPException(..., detail=...).")


def _judge_errors(app: StudentApp, folder: Path) -> None:
    from course_api.samples import digit_png, draw, encode, held_out_pixels

    png = digit_png(7)
    _expect_4xx(app, folder, b"Hello, I am a text file.\n", "notes.txt", "text/plain", 415)
    gif = encode(draw(held_out_pixels(7), size=64), "GIF")
    _expect_4xx(app, folder, gif, "seven.gif", "image/gif", 415)
    _expect_4xx(app, folder, png[: len(png) // 2], "half a PNG", "image/png", 422)
    _expect_4xx(app, folder, png + b"\0" * (MAX_UPLOAD_BYTES + 1 - len(png)), "1,000,001 bytes", "image/png", 413)
    exactly = _post(app, png + b"\0" * (MAX_UPLOAD_BYTES - len(png)), "limit.png")
    no_crash(app, exactly, folder, "POST /predict with exactly 1,000,000 bytes")
    if exactly.status_code != 200:
        fail(
            f"A PNG of exactly {MAX_UPLOAD_BYTES:,} bytes got {exactly.status_code}: that is still allowed. "
            "Read MAX_UPLOAD_BYTES + 1 bytes and refuse only when you got more than MAX_UPLOAD_BYTES."
        )
    empty = app.post("/predict")
    no_crash(app, empty, folder, "POST /predict without a file")
    if empty.status_code != 422:
        fail(f"POST /predict without a file answered {empty.status_code}; FastAPI answers 422 when file is required.")


@exercise(
    "04.6",
    "POST /predict, backed by the model",
    needs=(),
    files=("my_api/main.py",),
    points=3,
    hints=(
        "Read notebook 04: section 1 (the lifespan, Depends), section 2 (one prediction by hand) and section 7 "
        "(a bad upload gets a 4xx). Your main.py puts them together for your own model.",
        "predict(file: UploadFile, model: Annotated[DigitCNN, Depends(get_model)]) -> Prediction reads at most "
        "MAX_UPLOAD_BYTES + 1 bytes (413 when there are more), turns them into pixels with to_pixels(open_picture("
        "data)), catching NotAnImage (415) and BrokenImage (422) to raise HTTPException, then runs the model on "
        "torch.from_numpy(pixels)[None].to(DEVICE) under torch.inference_mode(), and takes the softmax.",
        "probabilities = torch.softmax(model(batch), dim=1)[0]; return Prediction(digit=int(probabilities.argmax()), "
        'probability=float(probabilities.max())). /health: Health(status="ok", model_loaded=getattr('
        'request.app.state, "model", None) is not None).',
    ),
)
def _04_6(ns: dict[str, Any]) -> str:
    from course_api.workbook.checks.student_app import project_copy, require_sources

    folder = project_folder(ns)
    require_sources(folder, "main.py", "serving.py")
    _given_files(folder)
    _no_pickle(folder)
    with project_copy(folder) as copied, running_app(copied) as app:
        with contextlib.suppress(PermissionError):  # Windows keeps a file that a process has open
            (copied / "digits.safetensors").unlink()  # loaded at start-up, the weights are not needed any more
        health = app.get("/health")
        no_crash(app, health, copied, "GET /health")
        if json_body(health, "GET /health") != {"status": "ok", "model_loaded": True}:
            fail(f'GET /health answered {health.text[:200]}; expected {{"status": "ok", "model_loaded": true}}.')
        judge_predictions(app, copied)
        _judge_errors(app, copied)
        schema = _response_schema(_paths(app), "/predict", "post")
    if "Prediction" not in str(schema.get("$ref", "")):
        fail("POST /predict answers well, but without the response model Prediction: declare -> Prediction.")
    return "your API reads held-out digits with the model it loaded once, and answers 413, 415 and 422 as it should."


# ---------------------------------------------------------------------------------------------------- 04.7
TEST_FILE = "tests/test_main.py"
# Broken copies of the student's API, made by appending to a copy of its main.py: the student's tests must fail.
BROKEN = {
    "whose POST /predict always answers 0: test that a 7 is read as a 7 (the digit, not only the status)": """

# The course's check: a broken copy of your API, whose POST /predict always answers 0.
from fastapi.responses import JSONResponse as _CheckJSON


@app.middleware("http")
async def _always_zero(request, call_next):
    response = await call_next(request)
    if request.url.path == "/predict" and response.status_code == 200:
        return _CheckJSON({"digit": 0, "probability": 0.99})
    return response
""",
    "that answers 500 to a file that is not an image: test that a text file gets 415": """

# The course's check: a broken copy of your API, which answers 500 where it should say what the client got wrong.
from fastapi.responses import JSONResponse as _CheckJSON


@app.middleware("http")
async def _crash_on_mistakes(request, call_next):
    response = await call_next(request)
    if request.url.path == "/predict" and response.status_code in (413, 415):
        return _CheckJSON({"detail": "Internal Server Error"}, status_code=500)
    return response
""",
}


def run_tests(copied: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pytest <project>`` from the project's parent folder, as the student runs it in a terminal, but
    with only anyio's pytest plugin (for async tests) of those the course's environment has: loading the others
    (nbval, schemathesis, playwright, ...) would double the time of each run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plugins = ["-p", "no:cacheprovider", "-p", "anyio.pytest_plugin"]
    command = [sys.executable, "-m", "pytest", "-q", *plugins, "--color=no", copied.name]
    try:
        return subprocess.run(
            command,
            cwd=copied.parent,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        fail("Your tests ran for more than 3 minutes: does one of them wait forever (a request without timeout)?")


def _summary(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    text = (done.stdout + done.stderr).strip().splitlines()
    return "\n".join("    " + line for line in text[-lines:])


def _passed(done: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"(\d+) passed", done.stdout)
    return int(found.group(1)) if found else 0


def _judge_own_run(done: subprocess.CompletedProcess[str], folder: Path) -> None:
    output = done.stdout + done.stderr
    if done.returncode == 5:
        fail(
            f"pytest found no test in {folder.name}/{TEST_FILE}: a test is a function whose name starts with test_ "
            "(def test_health(): ...), in a file whose name starts with test_."
        )
    if done.returncode in (2, 3, 4):
        hint = ""
        if "No module named" in output:
            hint = f" Import your app as `from {folder.name}.main import app`."
        fail(f"pytest could not run your tests (exit code {done.returncode}).{hint}\n{_summary(done)}")
    if done.returncode != 0:
        hint = ""
        if "'State' object has no attribute" in output:
            hint = (
                " The lifespan did not run, so app.state has no model: use the client in a with block, "
                "`with TestClient(app) as client:`, which starts and stops the app like a server."
            )
        fail(f"Your tests fail on your own API, which works (check 04.6).{hint}\n{_summary(done)}")
    if _passed(done) < 3:
        fail(
            f"pytest ran {_passed(done)} test(s); write at least three: the health check (GET /health), "
            "a prediction, a 415."
        )


@exercise(
    "04.7",
    "tests for your API",
    needs=(),
    files=("my_api/tests/test_main.py",),
    points=2,
    hints=(
        "Read section 11 of notebooks/03_fastapi.ipynb (testing with TestClient) and section 1 of notebook 04: "
        "how a test starts the app's lifespan, so that the model is loaded.",
        "Each test is a function test_...() that sends a request through a TestClient of your app and asserts what "
        "a correct response must be: for the prediction, the digit itself, not only the status; for a text file, "
        "the 415. Import the app with from my_api.main import app, and the picture with digit_png.",
        'with TestClient(app) as client: response = client.post("/predict", files={"file": ("seven.png", '
        'digit_png(7), "image/png")}); then assert response.json()["digit"] == 7.',
    ),
)
def _04_7(ns: dict[str, Any]) -> str:
    from course_api.workbook.checks.student_app import project_copy, require_sources

    folder = project_folder(ns)
    require_sources(folder, "main.py", TEST_FILE)
    _given_files(folder)
    with project_copy(folder) as copied:
        own = run_tests(copied)
    _judge_own_run(own, folder)

    def on_broken(extra: str) -> subprocess.CompletedProcess[str]:
        with project_copy(folder) as broken:
            with (broken / "main.py").open("a", encoding="utf-8") as main:
                main.write(extra)
            return run_tests(broken)

    for what, extra in BROKEN.items():  # one at a time: each run holds a model, and a graded kernel has a memory cap
        if on_broken(extra).returncode == 0:
            fail(f"Your tests pass on a broken copy of your API, {what}.")
    return f"your {_passed(own)} tests pass on your API and catch both broken copies of it."
