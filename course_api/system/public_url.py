"""Where a person opens a server that a notebook started, and the path prefix that address implies.

:func:`course_api.serve_in_background` listens on 127.0.0.1, the loopback of the machine that runs the
notebook's kernel. On a laptop the browser runs there too, so ``server.url`` opens. In a class JupyterHub, on
Binder or in GitHub Codespaces it does not: the browser has to go through the hub's proxy or the codespace's
port forwarding. :func:`browser_url` finds that address from the environment; the first rule that applies wins:

1. **An explicit address**: ``override`` (``serve_in_background(public_url=...)`` or the ``public_url`` setting),
   else ``COURSE_API_PUBLIC_URL``. ``{port}`` in it becomes the server's port, e.g.
   ``https://hub.example.org/user/ada/proxy/{port}``; a path alone (``/proxy/{port}``) is allowed too.
2. **JupyterHub**, Binder included (it runs one): ``JUPYTERHUB_SERVICE_PREFIX`` (``/user/ada/``) is set. The
   server is reached through jupyter-server-proxy at ``<prefix>proxy/<port>``, on the host of
   ``JUPYTERHUB_PUBLIC_URL`` (this Jupyter server's public address), else of ``JUPYTERHUB_PUBLIC_HUB_URL``, else
   as a path alone, which the browser resolves against the Jupyter page it shows.
3. **GitHub Codespaces**: ``CODESPACES=true`` with ``CODESPACE_NAME`` and
   ``GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN``: ``https://<name>-<port>.<domain>``.
4. Otherwise the loopback URL itself.

A Jupyter server without a hub tells its kernels nothing of its address (only ``JPY_SESSION_NAME`` and
``JPY_PARENT_PID``), and on a laptop the loopback URL opens anyway: for a remote one with jupyter-server-proxy,
set ``COURSE_API_PUBLIC_URL=/proxy/{port}``.

Nothing here imports the rest of the package: it reads a mapping of variables, so it is tested without a hub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["PUBLIC_URL_VARIABLE", "browser_url", "is_safe_prefix", "path_prefix"]

PUBLIC_URL_VARIABLE = "COURSE_API_PUBLIC_URL"
# A path prefix the server may write into its pages: segments of URL characters, none that could end an HTML
# attribute or a JavaScript string (no quotes, <, >, &, backslash, spaces), no "." or ".." segment.
_SAFE_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$()*+;=:@%-]+)*")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")
_CODESPACE_NAME = re.compile(r"[A-Za-z0-9-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def is_safe_prefix(prefix: str) -> bool:
    """Whether ``prefix`` ("" or ``/a/b``, no trailing slash) is a path prefix the server may use in its pages."""
    segments = prefix.split("/")[1:]
    return _SAFE_PREFIX.fullmatch(prefix) is not None and not {".", ".."} & set(segments)


def path_prefix(url: str) -> str:
    """The path of a browser URL without its trailing slash: ``https://hub/user/ada/proxy/8000/`` ->
    ``/user/ada/proxy/8000``; "" when the server is at the root. Raises ValueError for an unsafe path."""
    prefix = urlsplit(url).path.rstrip("/")
    if not is_safe_prefix(prefix):
        raise ValueError(f"{url!r} has a path that the server cannot use as its prefix.")
    return prefix


def browser_url(port: int, url: str, environ: Mapping[str, str], override: str | None = None) -> str:
    """The address a person opens for a server on ``port`` whose loopback URL is ``url`` (see the module's rules),
    without a trailing slash. Raises ValueError when the explicit address is not one a browser can open."""
    if override:
        return _explicit(override, port, "public_url")
    if environ.get(PUBLIC_URL_VARIABLE, "").strip():
        return _explicit(environ[PUBLIC_URL_VARIABLE], port, PUBLIC_URL_VARIABLE)
    return _jupyterhub(port, environ) or _codespaces(port, environ) or url.rstrip("/")


def _explicit(template: str, port: int, source: str) -> str:
    """``template`` with ``{port}`` filled in, checked: ``http(s)://host[/path]`` or ``/path``."""
    address = template.strip().replace("{port}", str(port)).rstrip("/")
    parts = urlsplit(address)
    absolute = parts.scheme in ("http", "https") and _HOST.fullmatch(parts.netloc) is not None
    path_only = not parts.scheme and not parts.netloc and address.startswith("/")
    if not (absolute or path_only) or parts.query or parts.fragment or not is_safe_prefix(parts.path):
        raise ValueError(
            f"{source}={template!r} is not an address a browser can open: give http(s)://host[/path] or /path, "
            "where {port} stands for the server's port, e.g. https://hub.example.org/user/ada/proxy/{port}."
        )
    return address


def _origin(url: str) -> str | None:
    """``https://hub.example.org`` of ``https://hub.example.org/user/ada/``; None unless http(s) with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and _HOST.fullmatch(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _jupyterhub(port: int, environ: Mapping[str, str]) -> str | None:
    """``<host><JUPYTERHUB_SERVICE_PREFIX>proxy/<port>``: jupyter-server-proxy's address of the port."""
    service_prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip().rstrip("/")
    if not service_prefix.startswith("/") or not is_safe_prefix(service_prefix):
        return None
    hosts = (environ.get(name, "") for name in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_HUB_URL"))
    origin = next((found for found in map(_origin, hosts) if found), "")
    return f"{origin}{service_prefix}/proxy/{port}"


def _codespaces(port: int, environ: Mapping[str, str]) -> str | None:
    """``https://<CODESPACE_NAME>-<port>.<GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN>``: the forwarded port."""
    if environ.get("CODESPACES", "").strip().lower() != "true":
        return None
    name = environ.get("CODESPACE_NAME", "").strip()
    domain = environ.get("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "").strip().strip(".")
    if not (_CODESPACE_NAME.fullmatch(name) and _DOMAIN.fullmatch(domain)):
        return None
    return f"https://{name}-{port}.{domain}"
