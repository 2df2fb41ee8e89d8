"""Lesson 03, FastAPI: answers students write for the exercises of solutions/03_fastapi.ipynb."""

from __future__ import annotations

from corpus import correct, mistake

RESET = """
app = FastAPI(title="My notes API")
client = TestClient(app)
"""

CASES = [
    # 03.1 a route with a path parameter
    mistake(
        "03.1",
        "returns the wrong greeting",
        """
@app.get("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hi {name}"}
""",
        "expected {'message': 'Hello, Ada!'}",
    ),
    mistake(
        "03.1",
        "the path says {person} but the function takes name",
        """
@app.get("/hello/{person}")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "422",
    ),
    mistake(
        "03.1",
        "a route defined twice under two names",
        """
@app.get("/hello/{name}")
def hello_old(name: str) -> dict:
    return {"message": "hello"}


@app.get("/hello/{name}")
def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}
""",
        "defined twice",
        "first matching route",
    ),
    correct(
        "03.1",
        "an async route with an f-string",
        """
@app.get("/hello/{name}")
async def hello(name: str):
    greeting = "Hello, " + name + "!"
    return {"message": greeting}
""",
    ),
]
