"""Lesson 05, Docker: answers students write for the exercises of solutions/05_docker.ipynb, which containerise
the student's own project, my_api/ (built here from the worked answers of worksheet 04)."""

from __future__ import annotations

from corpus import changed, correct, mistake
from helpers import write_project as prepare  # test_mistakes builds my_api/ with it, once

__all__ = ["CASES", "RESET", "prepare"]

# Each case starts with the project as worksheet 04 leaves it, without the files that an earlier case wrote.
RESET = """
__import__("helpers").write_project(Path.cwd())
for leftover in ("requirements.txt", "requirement.txt", ".dockerignore", "dockerignore", "Dockerfile"):
    (project / leftover).unlink(missing_ok=True)
Path(".dockerignore").unlink(missing_ok=True)
"""

REQUIREMENTS = """
packages = {
    "fastapi": "fastapi",
    "uvicorn[standard]": "uvicorn",
    "python-multipart": "python-multipart",
    "torch": "torch",
    "safetensors": "safetensors",
    "numpy": "numpy",
    "pillow": "pillow",
}
requirements = "--extra-index-url https://download.pytorch.org/whl/cpu\\n"
for requirement, package in packages.items():
    requirements += f"{requirement}=={version(package).split('+')[0]}\\n"
(project / "requirements.txt").write_text(requirements)
"""

IGNORE = '''
dockerignore = """**/__pycache__/
**/*.py[cod]
**/.ipynb_checkpoints/
.pytest_cache/
tests/
.env
"""
(project / ".dockerignore").write_text(dockerignore)
'''

HEALTH = """
health_code = (
    "import json, os, sys, urllib.request; "
    "port = os.environ.get('PORT', '8000'); "
    "answer = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)); "
    "sys.exit(0 if answer['model_loaded'] else 1)"
)
options = "--interval=30s --timeout=5s --start-period=30s"
healthcheck = f"HEALTHCHECK {options} CMD {json.dumps(['python', '-c', health_code])}"
"""

DOCKERFILE = '''
dockerfile = f"""FROM python:3.12-slim
RUN useradd --create-home --uid 10001 appuser
WORKDIR /code
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . ./my_api
USER 10001
EXPOSE 8000
{healthcheck}
CMD ["sh", "-c", "exec uvicorn my_api.main:app --host 0.0.0.0 --port \\\\"${{PORT:-8000}}\\\\""]
"""
(project / "Dockerfile").write_text(dockerfile)
'''
CMD = 'CMD ["sh", "-c", "exec uvicorn my_api.main:app --host 0.0.0.0 --port \\\\"${{PORT:-8000}}\\\\""]'


def requirements(old: str, new: str) -> str:
    return changed(REQUIREMENTS, old, new)


def ignore(old: str, new: str) -> str:
    return changed(IGNORE, old, new)


def health(old: str, new: str) -> str:
    return changed(HEALTH, old, new)


def dockerfile(old: str, new: str) -> str:
    return changed(DOCKERFILE, old, new)


CASES = [
    # 05.1 requirements.txt with the CPU-only torch
    mistake(
        "05.1",
        "torch from PyPI: the CUDA build",
        requirements('requirements = "--extra-index-url https://download.pytorch.org/whl/cpu\\n"', 'requirements = ""'),
        "CUDA",
        "--extra-index-url",
    ),
    mistake(
        "05.1",
        "--index-url takes PyPI away",
        requirements("--extra-index-url", "--index-url"),
        "replaces PyPI",
        "--extra-index-url",
    ),
    mistake(
        "05.1", "pillow forgotten (the import says PIL)", requirements('    "pillow": "pillow",\n', ""), "pillow", "PIL"
    ),
    mistake("05.1", "safetensors forgotten", requirements('    "safetensors": "safetensors",\n', ""), "safetensors"),
    mistake(
        "05.1",
        "python-multipart forgotten",
        requirements('    "python-multipart": "python-multipart",\n', ""),
        "python-multipart",
        "upload",
    ),
    mistake("05.1", "no server to run the app", requirements('    "uvicorn[standard]": "uvicorn",\n', ""), "uvicorn"),
    mistake(
        "05.1",
        "no pins",
        requirements("""f"{requirement}=={version(package).split('+')[0]}\\n\"""", 'f"{requirement}\\n"'),
        "not pinned",
    ),
    mistake(
        "05.1",
        "a version typed from memory",
        REQUIREMENTS
        + '(project / "requirements.txt").write_text(requirements.replace("fastapi==", "fastapi==0.110.0#"))\n',
        "fastapi",
        "==",
    ),
    mistake(
        "05.1", "unicorn", requirements('"uvicorn[standard]": "uvicorn"', '"unicorn": "uvicorn"'), "unicorn", "uvicorn"
    ),
    mistake(
        "05.1",
        "pytest in the image",
        requirements('    "numpy": "numpy",\n', '    "numpy": "numpy",\n    "pytest": "pytest",\n'),
        "pytest",
    ),
    mistake(
        "05.1",
        "the CUDA build pinned by its label",
        REQUIREMENTS
        + '(project / "requirements.txt").write_text(requirements.replace("torch==2.13.0", "torch==2.13.0+cu130"))\n',
        "CUDA build",
    ),
    mistake(
        "05.1",
        "an f-string without its f",
        requirements(
            """f"{requirement}=={version(package).split('+')[0]}\\n\"""", """"{requirement}=={version(package)}\\n\""""
        ),
        "f-string",
    ),
    mistake(
        "05.1",
        "requirement.txt, without the s",
        requirements('project / "requirements.txt"', 'project / "requirement.txt"'),
        "requirements.txt",
        "with an s",
    ),
    mistake(
        "05.1",
        "the app imports the course's package",
        'with open(project / "preprocess.py", "a") as file:\n'
        '    file.write("\\nfrom course_api.samples import digit_png\\n")\n' + REQUIREMENTS,
        "course_api",
        "PyPI",
    ),
    correct(
        "05.1",
        "fastapi[standard], which brings uvicorn and python-multipart, and torch's +cpu label",
        """
lines = ["--extra-index-url https://download.pytorch.org/whl/cpu"]
lines.append(f"fastapi[standard]=={version('fastapi')}")
lines += [f"{name}=={version(name)}" for name in ("safetensors", "numpy", "pillow")]
lines.append("torch==2.13.0+cpu")
(project / "requirements.txt").write_text("\\n".join(lines) + "\\n")
""",
    ),
    # 05.2 .dockerignore
    mistake(
        "05.2", "the weights left out to keep the context small", ignore(".env\n", ".env\n*.safetensors\n"), "no model"
    ),
    mistake(
        "05.2",
        "__pycache__ at the root only, tests sent",
        ignore("**/__pycache__/\n**/*.py[cod]\n", "__pycache__/\n*.pyc\n").replace("tests/\n", ""),
        "any depth",
    ),
    mistake("05.2", "a pattern that names the context's folder", ignore("tests/\n", "my_api/tests/\n"), "tests/"),
    mistake("05.2", "secrets sent along", ignore(".env\n", ""), ".env", "secrets"),
    mistake("05.2", "the tests in the image", ignore("tests/\n", ""), "tests/"),
    mistake("05.2", "pytest's cache sent", ignore(".pytest_cache/\n", ""), ".pytest_cache"),
    mistake("05.2", "everything ignored", ignore(".env\n", ".env\n*\n"), "leaves my_api/main.py out"),
    mistake("05.2", "text files ignored: requirements.txt too", ignore(".env\n", ".env\n*.txt\n"), "requirements.txt"),
    mistake(
        "05.2",
        "written next to the worksheet, not in the build context",
        ignore('(project / ".dockerignore")', 'Path(".dockerignore")'),
        "build context",
    ),
    correct(
        "05.2",
        "ignore everything, then let the app's files through",
        '''
dockerignore = """# only what the image needs
*
!*.py
!requirements.txt
!digits.safetensors
"""
(project / ".dockerignore").write_text(dockerignore)
''',
    ),
    # 05.3 a HEALTHCHECK that says the model is loaded
    mistake(
        "05.3",
        "curl, which slim images lack",
        """healthcheck = 'HEALTHCHECK --interval=30s --timeout=5s CMD ["curl", "-f", "http://127.0.0.1:8000/health"]'\n""",
        "curl",
    ),
    mistake("05.3", "requests, which the image does not install", health("urllib.request", "requests"), "requests"),
    mistake(
        "05.3",
        "only asks whether the server answers",
        health(
            "answer = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)); \"\n"
            "    \"sys.exit(0 if answer['model_loaded'] else 1)",
            "urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)",
        ),
        "still loading",
        "model_loaded",
    ),
    mistake("05.3", "asks / instead of /health", health("{port}/health", "{port}/"), "/health"),
    mistake(
        "05.3",
        "port 8000, whatever $PORT says",
        health("port = os.environ.get('PORT', '8000'); ", "port = 8000; "),
        "PORT",
    ),
    mistake(
        "05.3",
        "the exec form in single quotes",
        health("{json.dumps(['python', '-c', health_code])}", "['python', '-c', '{health_code}']"),
        "JSON list",
    ),
    mistake("05.3", "no --timeout", health(" --timeout=5s", ""), "--timeout"),
    mistake(
        "05.3",
        "sys.exit(True) exits with 1",
        health("sys.exit(0 if answer['model_loaded'] else 1)", "sys.exit(answer['model_loaded'])"),
        "exits with 1",
        "unhealthy",
    ),
    mistake(
        "05.3",
        "every error swallowed",
        health(
            '"import json, os, sys, urllib.request; "',
            '"import json, os, sys, urllib.request\\ntry:\\n  "',
        ).replace('else 1)"', 'else 1)\\nexcept Exception:\\n  pass"'),
        "exits with 0",
    ),
    correct(
        "05.3",
        "an assert, and the shell form",
        """
code = (
    "import json, os, urllib.request; "
    "url = 'http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health'; "
    "assert json.load(urllib.request.urlopen(url, timeout=4)).get('model_loaded') is True"
)
healthcheck = f'HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD python -c "{code}" || exit 1'
""",
    ),
    # 05.4 a Dockerfile for the model API
    mistake("05.4", "CMD on 127.0.0.1", dockerfile("--host 0.0.0.0", "--host 127.0.0.1"), "0.0.0.0"),
    mistake(
        "05.4",
        "the port fixed at 8000",
        dockerfile(CMD, 'CMD ["uvicorn", "my_api.main:app", "--host", "0.0.0.0", "--port", "8000"]'),
        "$PORT",
    ),
    mistake(
        "05.4",
        "$PORT in the exec form",
        dockerfile(CMD, 'CMD ["uvicorn", "my_api.main:app", "--host", "0.0.0.0", "--port", "${{PORT:-8000}}"]'),
        "expands no variables",
    ),
    mistake("05.4", "$PORT without a default", dockerfile("${{PORT:-8000}}", "${{PORT}}"), "default", "8000"),
    mistake("05.4", "sh -c without exec", dockerfile('"exec uvicorn', '"uvicorn'), "exec", "signal"),
    mistake(
        "05.4",
        "COPY . . puts main.py beside requirements.txt",
        dockerfile("COPY . ./my_api", "COPY . ."),
        "COPY . ./my_api",
    ),
    mistake(
        "05.4",
        "only the Python files copied: no weights",
        dockerfile("COPY . ./my_api", "COPY *.py ./my_api/"),
        "no weights",
    ),
    mistake(
        "05.4",
        "the code copied before pip install",
        dockerfile(
            "COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . ./my_api\n",
            "COPY . ./my_api\nRUN pip install --no-cache-dir -r my_api/requirements.txt\n",
        ),
        "requirements.txt first",
    ),
    mistake(
        "05.4",
        "PyPI's torch installed on its own",
        dockerfile(
            "RUN pip install --no-cache-dir -r requirements.txt\n",
            "RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir -r requirements.txt\n",
        ),
        "CUDA",
    ),
    mistake("05.4", "runs as root", dockerfile("USER 10001\n", ""), "non-root"),
    mistake("05.4", "the full python image", dockerfile("python:3.12-slim", "python:3.12"), "slim"),
    mistake("05.4", "--reload in the image", dockerfile("--host 0.0.0.0", "--reload --host 0.0.0.0"), "--reload"),
    mistake("05.4", "no HEALTHCHECK", dockerfile("{healthcheck}\n", ""), "HEALTHCHECK"),
    mistake(
        "05.4",
        "CMD in shell form",
        dockerfile(CMD, 'CMD uvicorn my_api.main:app --host 0.0.0.0 --port "${{PORT:-8000}}"'),
        "hadolint",
        "DL3025",
    ),
    correct(
        "05.4",
        "fastapi run, a WORKDIR of /app and ENV lines",
        dockerfile("WORKDIR /code", "ENV PYTHONUNBUFFERED=1\nWORKDIR /app").replace(
            "exec uvicorn my_api.main:app --host 0.0.0.0", "exec fastapi run my_api/main.py"
        ),
    ),
    # 05.5 build and run with matching names
    mistake(
        "05.5",
        "builds one image, runs another",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "-d", "--name", "my-api", "-p", "8080:8000", "myimage"]
""",
        "a common mix-up",
        "must be the name you built",
    ),
    mistake(
        "05.5",
        "-p the wrong way round",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "-d", "--name", "my-api", "-p", "8000:8080", "my-api"]
""",
        "HOST:CONTAINER",
        "8080:8000",
    ),
    mistake(
        "05.5",
        "options after the image name",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "my-api", "-d", "--name", "my-api", "-p", "8080:8000"]
""",
        "before the image name",
    ),
    mistake(
        "05.5",
        "one string instead of a list",
        """
build_command = f"docker build -t my-api {project}"
run_command = "docker run -d --name my-api -p 8080:8000 my-api"
""",
        "one string",
        "list",
    ),
    mistake(
        "05.5",
        "an option and its value in one item",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "-d", "--name", "my-api", "-p 8080:8000", "my-api"]
""",
        "space inside",
    ),
    mistake(
        "05.5",
        "builds the notebook's folder, not my_api/",
        """
build_command = ["docker", "build", "-t", "my-api", "."]
run_command = ["docker", "run", "-d", "--name", "my-api", "-p", "8080:8000", "my-api"]
""",
        "build context",
        "str(project)",
    ),
    mistake(
        "05.5",
        "no -p: the port is not published",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "-d", "--name", "my-api", "my-api"]
""",
        "Without -p",
    ),
    mistake(
        "05.5",
        "no -d: the container holds the terminal",
        """
build_command = ["docker", "build", "-t", "my-api", str(project)]
run_command = ["docker", "run", "--name", "my-api", "-p", "8080:8000", "my-api"]
""",
        "-d",
        "background",
    ),
    correct(
        "05.5",
        "long options, a tag, --rm and a loopback-only port",
        """
build_command = ["docker", "build", "--tag", "my-api:1.0", project.as_posix()]
run_command = [
    "docker", "run", "--detach", "--rm", "--name=my-api", "--publish", "127.0.0.1:8080:8000", "my-api:1.0",
]
""",
    ),
    correct(
        "05.5",
        "shlex.split of the command lines",
        """
import shlex

build_command = shlex.split(f"docker build -t my-api {project}")
run_command = shlex.split("docker run -d --name my-api -p 8080:8000 my-api")
""",
    ),
]
