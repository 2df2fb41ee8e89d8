"""/docs and /redoc work with no network: every asset comes from the course server itself."""

from __future__ import annotations

import re

import pytest

from helpers import page_assets

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_names_no_external_url_and_every_asset_answers(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    html = response.text
    assert URL.findall(html) == [], f"{page} references an external URL"
    assets = page_assets(html)
    assert assets, f"{page} references no assets at all"
    for asset in assets:
        assert asset.startswith("/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000, asset
    assert "/openapi.json" in html


def test_swagger_ui_understands_openapi_3_1(client):
    """FastAPI writes OpenAPI 3.1, which only Swagger UI 5 renders: the served bundle must be a 5.x build."""
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', client.get("/docs").text)
    assert bundle, "/docs loads no swagger-ui-bundle.js"
    assert "isOAS31" in client.get(bundle.group(1)).text  # the OpenAPI 3.1 plugin, new in Swagger UI 5


def test_redoc_needs_no_google_fonts(client):
    assert "fonts.googleapis" not in client.get("/redoc").text


def test_free_form_objects_have_real_examples(app):
    """Swagger UI shows a free-form object (a dict) as {"additionalProp1": ...} unless the schema has an example."""
    missing = []
    for name, schema in app.openapi()["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if "additionalProperties" in prop and not (prop.get("examples") or prop.get("example")):
                missing.append(f"{name}.{field}")
    assert not missing, f"add examples= to these dict fields: {missing}"
