"""Lesson 05, Docker: answers students write for the exercises of solutions/05_docker.ipynb."""

from __future__ import annotations

from corpus import correct, mistake

# Each case starts without the files an earlier case wrote (the cells before 05.2 write requirements.txt again).
RESET = """
work = Path("docker_exercise")
for leftover in (work / "requirements.txt", work / "requirement.txt", Path("requirements.txt")):
    leftover.unlink(missing_ok=True)
"""


def dockerfile(body: str) -> str:
    """A 05.3 answer cell that sets `dockerfile` to ``body`` (an f-string: {healthcheck} is the 05.2 answer)."""
    return f"dockerfile = f'''{body}'''\n"


GOOD_TOP = """FROM python:3.12-slim
WORKDIR /code
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app ./app
RUN useradd --create-home --uid 10001 appuser
USER 10001
"""
GOOD_END = """EXPOSE 8000
{healthcheck}
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
"""

CASES = [
    # 05.1 a pinned requirements.txt
    mistake(
        "05.1",
        "a misspelt file name, requirement.txt",
        """
requirements_path = work / "requirement.txt"
requirements_path.write_text(f"fastapi=={version('fastapi')}\\nuvicorn[standard]=={version('uvicorn')}\\n")
""",
        "requirements.txt (with an s)",
    ),
    mistake(
        "05.1",
        "unicorn instead of uvicorn",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text(f"fastapi=={version('fastapi')}\\nunicorn[standard]=={version('uvicorn')}\\n")
""",
        "'unicorn' is not the server",
        "uvicorn",
    ),
    mistake(
        "05.1",
        "no pins at all",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text("fastapi\\nuvicorn[standard]\\n")
""",
        "not pinned",
        "==",
    ),
    mistake(
        "05.1",
        "upper bounds instead of exact pins",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text("fastapi<0.69\\nuvicorn[standard]<0.16\\n")
""",
        "fastapi is <0.69",
        "pin it exactly",
    ),
    mistake(
        "05.1",
        "a version typed by hand, not the installed one",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text(f"fastapi==0.110.0\\nuvicorn[standard]=={version('uvicorn')}\\n")
""",
        "==0.110.0",
        "version('fastapi')",
    ),
    mistake(
        "05.1",
        "forgets the f of the f-string",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text("fastapi=={version('fastapi')}\\nuvicorn[standard]=={version('uvicorn')}\\n")
""",
        "f-string",
    ),
    mistake(
        "05.1",
        "both requirements on one line",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text(f"fastapi=={version('fastapi')}" f"uvicorn[standard]=={version('uvicorn')}")
""",
        "two requirements on one line",
    ),
    mistake(
        "05.1",
        "plain uvicorn without [standard]",
        """
requirements_path = work / "requirements.txt"
requirements_path.write_text(f"fastapi=={version('fastapi')}\\nuvicorn=={version('uvicorn')}\\n")
""",
        "uvicorn[standard]",
    ),
    mistake(
        "05.1",
        "the file next to the notebook, outside the build context",
        """
requirements_path = Path("requirements.txt")
requirements_path.write_text(f"fastapi=={version('fastapi')}\\nuvicorn[standard]=={version('uvicorn')}\\n")
""",
        "build context",
        "work / 'requirements.txt'",
    ),
    mistake(
        "05.1",
        "sets the path but never writes the file",
        """
requirements_path = work / "requirements.txt"
requirements = f"fastapi=={version('fastapi')}\\nuvicorn[standard]=={version('uvicorn')}\\n"
""",
        "There is no file",
        "write_text",
    ),
    correct(
        "05.1",
        "a loop over the pins, with a comment and pydantic, written with open()",
        """
pins = {"fastapi": "fastapi", "uvicorn[standard]": "uvicorn", "pydantic": "pydantic"}
requirements_path = work / "requirements.txt"
with open(requirements_path, "w") as file:
    file.write("# pinned to the versions this kernel runs\\n")
    for requirement, package in pins.items():
        file.write(f"{requirement}=={version(package)}\\n")
""",
    ),
    # 05.2 a HEALTHCHECK without curl
    mistake(
        "05.2",
        "curl, which slim images do not have",
        """
healthcheck = "HEALTHCHECK --interval=30s --timeout=5s CMD curl -f http://127.0.0.1:8000/ || exit 1"
""",
        "no curl",
        "urllib.request",
    ),
    mistake(
        "05.2",
        "no --interval and --timeout",
        """
healthcheck = (
    'HEALTHCHECK CMD ["python", "-c", '
    '"import urllib.request; urllib.request.urlopen(\\'http://127.0.0.1:8000/\\', timeout=4)"]'
)
""",
        "--interval",
        "--timeout",
    ),
    mistake(
        "05.2",
        "the host port 8080 instead of the container's 8000",
        """
healthcheck = (
    'HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", '
    '"import urllib.request; urllib.request.urlopen(\\'http://127.0.0.1:8080/\\', timeout=4)"]'
)
""",
        "8000",
    ),
    mistake(
        "05.2",
        "single quotes in the exec form",
        """
healthcheck = (
    "HEALTHCHECK --interval=30s --timeout=5s CMD ['python', '-c', "
    "'import urllib.request; urllib.request.urlopen(\\"http://127.0.0.1:8000/\\", timeout=4)']"
)
""",
        "JSON list",
        "double quotes",
    ),
    mistake(
        "05.2",
        "requests, which the image does not install",
        """
healthcheck = (
    'HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", '
    '"import requests; requests.get(\\'http://127.0.0.1:8000/\\', timeout=4).raise_for_status()"]'
)
""",
        "requests is not in it",
        "urllib.request",
    ),
    mistake(
        "05.2",
        "asks /health, which the app does not have",
        """
healthcheck = (
    'HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", '
    '"import urllib.request; urllib.request.urlopen(\\'http://127.0.0.1:8000/health\\', timeout=4)"]'
)
""",
        "while the server is healthy",
        "404",
    ),
    mistake(
        "05.2",
        "connect_ex, which never raises",
        """
healthcheck = (
    'HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", '
    '"import socket; socket.socket().connect_ex((\\'127.0.0.1\\', 8000))"]'
)
""",
        "exits with 0 when no server answers",
    ),
    mistake(
        "05.2",
        "no CMD before the command",
        """
healthcheck = (
    'HEALTHCHECK --interval=30s --timeout=5s ["python", "-c", '
    '"import urllib.request; urllib.request.urlopen(\\'http://127.0.0.1:8000/\\', timeout=4)"]'
)
""",
        "needs CMD",
    ),
    correct(
        "05.2",
        "shell form over two lines, localhost and || exit 1",
        """
healthcheck = '''HEALTHCHECK --interval=10s --timeout=3s --retries=3 \\\\
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8000/', timeout=2)" || exit 1'''
""",
    ),
    correct(
        "05.2",
        "python3 and a status print in exec form",
        """
code = "import urllib.request as r; print(r.urlopen('http://127.0.0.1:8000/', timeout=3).status)"
healthcheck = f'HEALTHCHECK --interval=15s --timeout=5s CMD ["python3", "-c", "{code}"]'
""",
    ),
    # 05.3 a Dockerfile for the app
    mistake(
        "05.3",
        "COPY . . before pip install",
        dockerfile(
            """FROM python:3.12-slim
RUN useradd --create-home --uid 10001 appuser
WORKDIR /code
COPY . .
RUN pip install --no-cache-dir -r requirements.txt
USER 10001
"""
            + GOOD_END
        ),
        "requirements.txt first",
        "before copying the code",
    ),
    mistake(
        "05.3",
        "code copied before the install",
        dockerfile(
            """FROM python:3.12-slim
RUN useradd --create-home --uid 10001 appuser
WORKDIR /code
COPY requirements.txt .
COPY app ./app
RUN pip install --no-cache-dir -r requirements.txt
USER 10001
"""
            + GOOD_END
        ),
        "before copying the code",
        "layer caching",
    ),
    mistake(
        "05.3",
        "pip keeps its cache",
        dockerfile(GOOD_TOP.replace("--no-cache-dir ", "") + GOOD_END),
        "hadolint",
        "DL3042",
    ),
    mistake(
        "05.3",
        "runs as root: no USER",
        dockerfile(GOOD_TOP.replace("RUN useradd --create-home --uid 10001 appuser\nUSER 10001\n", "") + GOOD_END),
        "non-root user",
        "USER",
    ),
    mistake(
        "05.3",
        "USER before pip install",
        dockerfile(
            """FROM python:3.12-slim
WORKDIR /code
RUN useradd --create-home --uid 10001 appuser
USER 10001
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app ./app
"""
            + GOOD_END
        ),
        "Permission denied",
        "after installing",
    ),
    mistake(
        "05.3",
        "USER by name",
        dockerfile(GOOD_TOP.replace("USER 10001", "USER appuser") + GOOD_END),
        "hadolint",
        "DL3066",
    ),
    mistake(
        "05.3",
        "listens on 127.0.0.1 inside the container",
        dockerfile(GOOD_TOP + GOOD_END.replace("0.0.0.0", "127.0.0.1")),
        "0.0.0.0",
    ),
    mistake(
        "05.3",
        "CMD in shell form",
        dockerfile(
            GOOD_TOP
            + GOOD_END.replace(
                'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]',
                "CMD uvicorn app.main:app --host 0.0.0.0 --port 8000",
            )
        ),
        "hadolint",
        "JSON notation",
    ),
    mistake(
        "05.3",
        "an outdated python:3.9 base",
        dockerfile(GOOD_TOP.replace("python:3.12-slim", "python:3.9") + GOOD_END),
        "slim Python image",
    ),
    mistake(
        "05.3",
        "main:app instead of app.main:app",
        dockerfile(GOOD_TOP + GOOD_END.replace('"app.main:app"', '"main:app"')),
        "app.main:app",
    ),
    mistake(
        "05.3",
        "port 80 instead of 8000",
        dockerfile(GOOD_TOP + GOOD_END.replace("EXPOSE 8000", "EXPOSE 80").replace('"8000"]', '"80"]')),
        "both should be 8000",
    ),
    mistake(
        "05.3",
        "no HEALTHCHECK",
        dockerfile(GOOD_TOP + GOOD_END.replace("{healthcheck}\n", "")),
        "HEALTHCHECK",
    ),
    correct(
        "05.3",
        "absolute paths, python -m uvicorn and --option=value",
        dockerfile(
            """FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1
WORKDIR /code
COPY ./requirements.txt /code/requirements.txt
RUN pip install --no-cache-dir --upgrade -r /code/requirements.txt
COPY ./app /code/app

RUN useradd --uid 10001 --no-create-home appuser
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \\\\
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=4)"]
CMD ["python", "-m", "uvicorn", "app.main:app", "--host=0.0.0.0", "--port=8000"]
"""
        ),
    ),
    # 05.4 build and run with matching names
    mistake(
        "05.4",
        "builds one image, runs another",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "-d", "--name", "notes-api", "-p", "8080:8000", "myimage"]
""",
        "a common mix-up",
        "must be the name you built",
    ),
    mistake(
        "05.4",
        "-p the wrong way round",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "-d", "--name", "notes-api", "-p", "8000:8080", "notes-api"]
""",
        "HOST:CONTAINER",
        "8080:8000",
    ),
    mistake(
        "05.4",
        "options after the image name",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "notes-api", "-d", "--name", "notes-api", "-p", "8080:8000"]
""",
        "before the image name",
    ),
    mistake(
        "05.4",
        "one string instead of a list",
        """
build_command = f"docker build -t notes-api {work}"
run_command = "docker run -d --name notes-api -p 8080:8000 notes-api"
""",
        "one string",
        "list",
    ),
    mistake(
        "05.4",
        "an option and its value in one item",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "-d", "--name", "notes-api", "-p 8080:8000", "notes-api"]
""",
        "space inside",
    ),
    mistake(
        "05.4",
        "builds the notebook's folder, not docker_exercise/",
        """
build_command = ["docker", "build", "-t", "notes-api", "."]
run_command = ["docker", "run", "-d", "--name", "notes-api", "-p", "8080:8000", "notes-api"]
""",
        "build context",
        "str(work)",
    ),
    mistake(
        "05.4",
        "no -p: the port is not published",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "-d", "--name", "notes-api", "notes-api"]
""",
        "Without -p",
    ),
    mistake(
        "05.4",
        "no -d: the container holds the terminal",
        """
build_command = ["docker", "build", "-t", "notes-api", str(work)]
run_command = ["docker", "run", "--name", "notes-api", "-p", "8080:8000", "notes-api"]
""",
        "-d",
        "background",
    ),
    correct(
        "05.4",
        "long options, a tag, --rm and a loopback-only port",
        """
build_command = ["docker", "build", "--tag", "notes-api:1.0", work.as_posix()]
run_command = [
    "docker", "run", "--detach", "--rm", "--name=notes-api", "--publish", "127.0.0.1:8080:8000", "notes-api:1.0",
]
""",
    ),
    correct(
        "05.4",
        "shlex.split of the command lines",
        """
import shlex

build_command = shlex.split(f"docker build -t notes-api {work}")
run_command = shlex.split("docker run -d --name notes-api -p 8080:8000 notes-api")
""",
    ),
]
