"""/docs and /redoc work with no network: every asset comes from the course server itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.assets.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_names_no_external_url_and_every_asset_answers(client, page):
    response = client.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    html = response.text
    assert URL.findall(html) == [], f"{page} references an external URL"
    parser = _Assets()
    parser.feed(html)
    assert parser.assets, f"{page} references no assets at all"
    for asset in parser.assets:
        assert asset.startswith("/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000, asset
    assert "/openapi.json" in html


def test_swagger_ui_understands_openapi_3_1(client):
    """FastAPI writes OpenAPI 3.1, which only Swagger UI 5 renders: the served bundle must be a 5.x build."""
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', client.get("/docs").text).group(1)
    assert "isOAS31" in client.get(script).text  # the OpenAPI 3.1 plugin, new in Swagger UI 5


def test_redoc_needs_no_google_fonts(client):
    assert "fonts.googleapis" not in client.get("/redoc").text
