"""Links that open: the address a person opens (course_api.system.public_url) and the server behind a path prefix
(course_api.server.middleware.PathPrefix), as in a class JupyterHub, on Binder or in GitHub Codespaces.

No hub is needed: the rules read a mapping of environment variables, and the prefix is tested with the requests a
proxy sends. The same pages in Chromium, through a real proxy, are in tests/server/test_browser.py (the end).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from course_api.server.middleware import PathPrefix
from course_api.system.public_url import browser_url, is_safe_prefix, path_prefix
from helpers import page_assets

PORT = 54321
URL = f"http://127.0.0.1:{PORT}"
HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/", "JUPYTERHUB_USER": "ada"}
CODESPACE = {
    "CODESPACES": "true",
    "CODESPACE_NAME": "fluffy-space-guide-7v9x",
    "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev",
}
PREFIX = "/user/ada/proxy/8000"


# ------------------------------------------------------------------------------- browser_url: the rules
def test_on_a_laptop_it_is_the_loopback_url():
    assert browser_url(PORT, URL, {}) == URL
    assert browser_url(PORT, URL + "/", {"HOME": "/home/ada", "PATH": "/usr/bin"}) == URL


def test_a_jupyter_server_without_a_hub_keeps_the_loopback_url():
    """jupyter_server tells its kernels only JPY_SESSION_NAME and JPY_PARENT_PID: nothing says where it is."""
    assert browser_url(PORT, URL, {"JPY_SESSION_NAME": "/home/ada/00_setup.ipynb", "JPY_PARENT_PID": "42"}) == URL


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("https://hub.example.org/user/ada/proxy/{port}", f"https://hub.example.org/user/ada/proxy/{PORT}"),
        ("https://hub.example.org/user/ada/proxy/{port}/", f"https://hub.example.org/user/ada/proxy/{PORT}"),
        ("https://my-codespace-{port}.app.github.dev", f"https://my-codespace-{PORT}.app.github.dev"),
        ("/proxy/{port}", f"/proxy/{PORT}"),
        ("http://lab.example.org:8888/api-course", "http://lab.example.org:8888/api-course"),
    ],
)
def test_an_explicit_address_wins_with_its_port_filled_in(override, expected):
    assert browser_url(PORT, URL, {}, override) == expected
    assert browser_url(PORT, URL, {**HUB, **CODESPACE}, override) == expected  # over every rule below
    assert browser_url(PORT, URL, {"COURSE_API_PUBLIC_URL": override, **HUB}) == expected  # the variable too


def test_the_argument_wins_over_the_variable():
    environ = {"COURSE_API_PUBLIC_URL": "https://other.example.org/{port}"}
    assert browser_url(PORT, URL, environ, "https://hub.example.org/p/{port}") == f"https://hub.example.org/p/{PORT}"
    assert browser_url(PORT, URL, {"COURSE_API_PUBLIC_URL": "  "}) == URL  # blank: not set


@pytest.mark.parametrize(
    "bad",
    [
        "hub.example.org/user/ada",  # no scheme: a browser would take it as a relative path
        "ftp://hub.example.org/x",
        "javascript:alert(1)",
        "//evil.example/x",
        "https://hub.example.org/x?token=1",
        "https://hub.example.org/it's",
        "https://hub.example.org/a b",
        "https://hub.example.org/../x",
        "https://",
    ],
)
def test_an_address_a_browser_cannot_open_is_refused_with_the_reason(bad):
    with pytest.raises(ValueError, match=r"public_url=.*http\(s\)://host\[/path\] or /path"):
        browser_url(PORT, URL, {}, bad)
    with pytest.raises(ValueError, match=r"COURSE_API_PUBLIC_URL="):
        browser_url(PORT, URL, {"COURSE_API_PUBLIC_URL": bad})


def test_jupyterhub_without_a_public_host_gives_the_proxy_path():
    """The browser resolves a path against the Jupyter page it shows: https://<hub>/user/ada/proxy/<port>."""
    assert browser_url(PORT, URL, HUB) == f"/user/ada/proxy/{PORT}"
    # JupyterHub sets both public variables, empty, when it has no public_url configured.
    assert browser_url(PORT, URL, {**HUB, "JUPYTERHUB_PUBLIC_URL": "", "JUPYTERHUB_PUBLIC_HUB_URL": ""}) == (
        f"/user/ada/proxy/{PORT}"
    )


def test_jupyterhub_with_its_public_host():
    """JUPYTERHUB_PUBLIC_URL is this server's address (with subdomains, the user's own host); the hub's is next."""
    server = {**HUB, "JUPYTERHUB_PUBLIC_URL": "https://ada.hub.example.org/user/ada/"}
    hub = {**HUB, "JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/hub/"}
    assert browser_url(PORT, URL, server) == f"https://ada.hub.example.org/user/ada/proxy/{PORT}"
    assert browser_url(PORT, URL, hub) == f"https://hub.example.org/user/ada/proxy/{PORT}"
    assert browser_url(PORT, URL, {**hub, **server}) == f"https://ada.hub.example.org/user/ada/proxy/{PORT}"
    odd = {**HUB, "JUPYTERHUB_PUBLIC_URL": "not a url", "JUPYTERHUB_PUBLIC_HUB_URL": "http://hub.local:8000/hub/"}
    assert browser_url(PORT, URL, odd) == f"http://hub.local:8000/user/ada/proxy/{PORT}"


def test_jupyterhub_named_servers_keep_their_prefix():
    environ = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/gpu/", "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/"}
    assert browser_url(PORT, URL, environ) == f"https://hub.example.org/user/ada/gpu/proxy/{PORT}"


def test_binder_is_a_jupyterhub():
    """BINDER_LAUNCH_HOST is where the binder was launched (mybinder.org), not the host of the user's server."""
    binder = {
        "BINDER_LAUNCH_HOST": "https://mybinder.org/",
        "BINDER_REQUEST": "v2/gh/teacher/creating-apis/main",
        "BINDER_REPO_URL": "https://github.com/teacher/creating-apis",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/teacher-creating-apis-a1b2c3d4/",
    }
    assert browser_url(PORT, URL, binder) == f"/user/teacher-creating-apis-a1b2c3d4/proxy/{PORT}"


def test_a_strange_service_prefix_is_not_used():
    for prefix in ("user/ada/", "/user/a'da/", "/user/../"):
        assert browser_url(PORT, URL, {"JUPYTERHUB_SERVICE_PREFIX": prefix}) == URL


def test_github_codespaces_forwards_the_port():
    assert browser_url(PORT, URL, CODESPACE) == f"https://fluffy-space-guide-7v9x-{PORT}.app.github.dev"
    assert browser_url(PORT, URL, {**CODESPACE, "CODESPACES": "false"}) == URL
    assert browser_url(PORT, URL, {**CODESPACE, "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": ""}) == URL
    assert browser_url(PORT, URL, {**CODESPACE, "CODESPACE_NAME": "a/b"}) == URL


def test_a_hub_inside_a_codespace_is_reached_through_the_hub():
    assert browser_url(PORT, URL, {**CODESPACE, **HUB}) == f"/user/ada/proxy/{PORT}"


def test_the_path_prefix_of_an_address():
    assert path_prefix(f"https://hub.example.org{PREFIX}/") == PREFIX
    assert path_prefix(PREFIX) == PREFIX
    assert path_prefix("https://x-8000.app.github.dev") == ""
    assert path_prefix(URL) == ""
    with pytest.raises(ValueError):
        path_prefix("https://hub.example.org/a'b")
    assert is_safe_prefix("")
    assert is_safe_prefix("/user/ada%40example.org/proxy/1")
    assert not any(map(is_safe_prefix, ["/a/", "a", "//a", "/a/../b", "/a/./b", '/a"', "/a<b", "/a&b", "/a\\b"]))


# ------------------------------------------------------------------------------- PathPrefix, one request
def seen_by_the_app(scope: dict, prefix: str = "") -> dict:
    """The scope that an app behind PathPrefix(prefix) receives for ``scope``."""
    seen: dict = {}

    async def app(scope, receive, send):
        seen.update(scope)

    asyncio.run(PathPrefix(app, prefix)(scope, None, None))  # type: ignore[arg-type]
    return seen


def request(path: str, *headers: tuple[str, str], root: str = "") -> dict:
    return {
        "type": "http",
        "path": root + path,
        "raw_path": (root + path).encode(),
        "root_path": root,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }


def test_a_request_without_a_prefix_passes_unchanged():
    plain = request("/docs")
    assert seen_by_the_app(plain) == plain
    assert seen_by_the_app(plain, PREFIX) == plain  # the notebook's own code, on server.url
    lifespan = {"type": "lifespan"}
    assert seen_by_the_app(lifespan, PREFIX) == lifespan


def test_jupyter_server_proxy_strips_the_prefix_and_says_so():
    """jupyter-server-proxy (/proxy/<port>) passes the path after the prefix, and the prefix in X-Forwarded-Prefix."""
    seen = seen_by_the_app(request("/docs", ("X-Forwarded-Prefix", PREFIX + "/")))
    assert (seen["root_path"], seen["path"]) == (PREFIX, PREFIX + "/docs")
    assert seen["raw_path"] == (PREFIX + "/docs").encode()


def test_a_proxy_that_keeps_the_prefix():
    """/proxy/absolute/<port>, or any proxy that passes the whole path: the path already starts with the prefix."""
    seen = seen_by_the_app(request(PREFIX + "/docs"), PREFIX)
    assert (seen["root_path"], seen["path"]) == (PREFIX, PREFIX + "/docs")
    seen = seen_by_the_app(request(PREFIX + "/docs", ("X-Forwarded-Prefix", PREFIX)))
    assert (seen["root_path"], seen["path"]) == (PREFIX, PREFIX + "/docs")


def test_a_proxy_that_strips_the_prefix_without_saying_so():
    seen = seen_by_the_app(request("/docs", ("X-Forwarded-For", "203.0.113.7")), "/user/ada/proxy/{port}")
    assert (seen["root_path"], seen["path"]) == (PREFIX, PREFIX + "/docs")  # {port}: the server's port


def test_a_prefix_is_applied_once():
    """An outer PathPrefix, or `uvicorn --root-path`, already applied it: the app sees it once."""
    already = request("/docs", ("X-Forwarded-Prefix", PREFIX), root=PREFIX)
    assert seen_by_the_app(already, PREFIX) == already


@pytest.mark.parametrize("header", ["/a'b", "//evil.example", "/x/../y", "https://evil.example/x", "/a b", "/x<"])
def test_a_prefix_header_that_is_not_a_plain_path_is_ignored(header):
    plain = request("/docs", ("X-Forwarded-Prefix", header))
    assert seen_by_the_app(plain) == plain


def test_a_configured_prefix_must_be_a_plain_path():
    with pytest.raises(ValueError, match="not a plain URL path"):
        PathPrefix(lambda *_: None, "/user/'ada'")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- the course server under a prefix
FORWARDED = {"X-Forwarded-Prefix": PREFIX, "X-Forwarded-For": "203.0.113.7"}


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/playground"])
def test_the_pages_load_everything_through_the_prefix(test_client, page):
    answer = test_client.get(page, headers=FORWARDED)
    assert answer.status_code == 200
    assets = page_assets(answer.text)
    assert assets, page
    for asset in assets:
        assert asset.startswith(PREFIX + "/"), f"{page} loads {asset} from outside {PREFIX}"
        # What the proxy then asks the server for: the path after the prefix, with the header.
        assert test_client.get(asset.removeprefix(PREFIX), headers=FORWARDED).status_code == 200, asset
    # Every other absolute path in the page is under the prefix too. (Swagger UI's OAuth2 redirect page is not,
    # fastapi-offline writes it so; the course server has no OAuth2, so Swagger UI never opens it.)
    text = answer.text.replace("window.location.origin + '/docs/oauth2-redirect'", "")
    assert not re.search(r"""["'](/(?!user/ada/proxy/8000/)[a-z])""", text), f"{page} has a link outside"
    if page != "/playground":
        assert f"{PREFIX}/openapi.json" in answer.text


def test_the_openapi_document_names_the_prefix_for_try_it_out(test_client):
    """Swagger UI's "Try it out" calls the first server of /openapi.json, resolved against the document's URL."""
    assert test_client.get("/openapi.json", headers=FORWARDED).json()["servers"] == [{"url": PREFIX}]
    assert "servers" not in test_client.get("/openapi.json").json()  # without a proxy: as before


def test_without_a_prefix_the_pages_are_as_before(test_client):
    from course_api.server.routes.playground import STATIC

    assert test_client.get("/playground").text == (STATIC / "playground.html").read_text(encoding="utf-8")
    docs = test_client.get("/docs").text
    assert 'src="/static-offline-docs/swagger-ui-bundle.js"' in docs
    assert "url: '/openapi.json'" in docs


def test_the_pages_policy_and_the_body_limits_hold_under_the_prefix(test_client, settings):
    from course_api.server.middleware import CONTENT_SECURITY_POLICY

    for page in ("/docs", "/redoc", "/playground"):
        assert test_client.get(page, headers=FORWARDED).headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in test_client.get("/items/5", headers=FORWARDED).headers
    too_long = {"text": "x" * (settings.json_body_limit + 10)}
    answer = test_client.post("/predict/text", json=too_long, headers=FORWARDED)
    assert answer.status_code == 413
    assert answer.json()["instance"] == PREFIX + "/predict/text"  # the path the browser asked for


def test_predictions_answer_through_the_prefix(test_client):
    answer = test_client.post("/predict/text", json={"text": "I love this course"}, headers=FORWARDED)
    assert answer.status_code == 200
    assert answer.json()["label"] == "positive"


def test_the_public_url_setting_serves_a_proxy_that_keeps_the_prefix(settings):
    """COURSE_API_PUBLIC_URL with a path: `course-api serve` behind a proxy that passes the whole path."""
    from fastapi.testclient import TestClient

    from course_api.server.app import create_app

    app = create_app(settings.with_changes(public_url="https://hub.example.org/user/ada/proxy/{port}"))
    client = TestClient(app)  # no lifespan: the models are not needed for these pages
    prefix = "/user/ada/proxy/80"  # the test client's server listens on port 80
    docs = client.get(prefix + "/docs")
    assert docs.status_code == 200
    assert f"url: '{prefix}/openapi.json'" in docs.text
    assert client.get(prefix + "/openapi.json").json()["servers"] == [{"url": prefix}]
    assert client.get(prefix + "/static-offline-docs/swagger-ui.css").status_code == 200
    assert "servers" not in client.get("/openapi.json").json()  # straight to the server: no prefix
