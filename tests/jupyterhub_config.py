"""A class JupyterHub on this machine's loopback, for tests/workbook/test_jupyterhub.py (see tests/hub_support.py).

The test writes its choices (ports, folders, the proxy's command, passwords) into a JSON file and starts
``jupyterhub -f tests/jupyterhub_config.py`` with ``COURSE_API_TEST_HUB=<that file>``. Everything else is here,
as an instructor would write it for a small class:

* students log in with a shared password (``SharedPasswordAuthenticator``, the successor of
  ``DummyAuthenticator(password=...)``) and only the names in ``allowed_users``;
* each one gets a Jupyter server of their own from the course's virtual environment
  (``SimpleLocalProcessSpawner``: a local process, in a home folder of their own, as the current user; for
  tests only), opening JupyterLab, with a copy of the course's notebooks in ``notebooks/``;
* the hub, its proxy (configurable-http-proxy), the proxy's API and every student's server listen on
  127.0.0.1 only;
* a service token (``admin``) lets the test stop students' servers through the hub's REST API.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

if not os.environ.get("COURSE_API_TEST_HUB"):
    raise SystemExit("tests/jupyterhub_config.py configures the test hub: tests/workbook/test_jupyterhub.py starts it")
plan: dict[str, Any] = json.loads(Path(os.environ["COURSE_API_TEST_HUB"]).read_text(encoding="utf-8"))
state = Path(plan["state"])
loopback = "127.0.0.1"

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (traitlets puts get_config in a config file's namespace)

# ------------------------------------------------------------------------------------- the hub and its proxy
c.JupyterHub.bind_url = f"http://{loopback}:{plan['proxy_port']}/"  # where browsers go: the proxy
if plan.get("public_url", True):  # the hub's public address, for single-user servers (JUPYTERHUB_PUBLIC_URL)
    c.JupyterHub.public_url = f"http://{loopback}:{plan['proxy_port']}/"
c.JupyterHub.hub_ip = loopback
c.JupyterHub.hub_port = plan["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://{loopback}:{plan['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [plan["proxy_command"]]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = plan["proxy_token"]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # the hub stops every student's server when it stops
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.log_level = "INFO"

# ------------------------------------------------------------------------------------------------ who logs in
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = plan["password"]
c.Authenticator.allowed_users = set(plan["students"])

# The test's own service: stops (and reads) students' servers through the REST API.
c.JupyterHub.services = [{"name": "course-test", "api_token": plan["admin_token"]}]
c.JupyterHub.load_roles = [
    {
        "name": "course-test-admin",
        "scopes": ["admin:users", "admin:servers"],
        "services": ["course-test"],
    }
]

# ------------------------------------------------------------------------------------- each student's server
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(Path(plan["homes"]) / "{username}")
c.Spawner.ip = loopback
c.Spawner.cmd = [plan["singleuser"]]
c.Spawner.args = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180  # three students start at once on a small machine
c.Spawner.http_timeout = 180
# The course's environment first on PATH (its `jupyter`, `python`, `course-api`); the kernel `course-api` is
# registered in that environment, where its Jupyter server finds it.
c.Spawner.env_keep = ["PATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "JUPYTER_PLATFORM_DIRS"]
c.Spawner.environment = {
    "PATH": os.pathsep.join([str(Path(plan["singleuser"]).parent), os.environ.get("PATH", "")]),
    "VIRTUAL_ENV": str(Path(plan["singleuser"]).parent.parent),
    "JUPYTER_PLATFORM_DIRS": "1",
    "COURSE_API_DEVICE": plan.get("device", "cpu"),
    "PYTHONUNBUFFERED": "1",
}
course_notebooks = Path(plan["notebooks"])


def give_the_student_the_course(spawner: Any) -> None:
    """Before a student's server starts: a copy of the course's notebooks in <home>/notebooks (kept if there)."""
    folder = Path(spawner.home_dir) / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    for notebook in sorted(course_notebooks.glob("*.ipynb")):
        if not (folder / notebook.name).exists():
            shutil.copyfile(notebook, folder / notebook.name)


c.Spawner.pre_spawn_hook = give_the_student_the_course
