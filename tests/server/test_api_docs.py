"""/docs loads every script and style from this server, so it works without internet."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from server.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as client:
        yield client


def test_the_documentation_page_loads_only_from_this_server(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(source.startswith("/") for source in sources), sources
    assert "cdn." not in html and "fonts.googleapis" not in html
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000, source
    assert "/openapi.json" in html


def test_the_assets_are_the_bundled_files_and_nothing_else(client):
    script = client.get("/vendor/docs/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert client.get("/vendor/docs/swagger-ui.css").headers["content-type"].startswith("text/css")
    for name in ("secrets.txt", "..%2Fcore.py", "__init__.py"):
        response = client.get(f"/vendor/docs/{name}")
        assert response.status_code == 404, name
    assert "swagger-ui-bundle.js" in client.get("/vendor/docs/nothing.js").json()["detail"]


def test_the_openapi_schema_lists_the_api_and_not_the_pages(client):
    schema = client.get("/openapi.json").json()
    assert "/api/health" in schema["paths"] and "/api/layers" in schema["paths"]
    assert not any(path in schema["paths"] for path in ("/docs", "/vendor/docs/{name}", "/network"))
    assert client.get("/redoc").status_code == 404  # ReDoc's page would fetch its logo from the internet


def test_the_openapi_schema_lists_the_refusals(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "404" in paths["/api/models/{name}"]["get"]["responses"]
    assert "404" in paths["/api/layers/{kind}"]["get"]["responses"]
    download = paths["/api/runs/layers/{index}.npy"]["post"]
    assert {"200", "413", "422", "503"} <= set(download["responses"])
    for field in ("`id`", "`type`", "`encoding`", "`kernels`", "`explain`", "`trace`", "`saliency`"):
        assert field in download["description"], field
