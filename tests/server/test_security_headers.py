"""Every answer says nosniff; the pages also carry a Content-Security-Policy that keeps them to this server.

(The browser tests load every page under this policy and fail on any console error, so a script or a
style the policy blocks would fail them.)
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.pages import PAGES
from server.security_headers import PAGE_POLICY


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as client:
        yield client


def test_pages_carry_the_policy(client):
    for path in [page[0] for page in PAGES]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == PAGE_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
    scripts = next(rule for rule in PAGE_POLICY.split("; ") if rule.startswith("script-src"))
    assert scripts == "script-src 'self' 'unsafe-eval'"  # no inline script, nothing from elsewhere


@pytest.mark.parametrize("path, status", [("/api/layers", 200), ("/static/js/lab.js", 200),
                                          ("/vendor/plotly.min.js", 200), ("/api/nothing", 404), ("/docs", 200)])
def test_every_answer_is_nosniff_and_only_pages_get_the_policy(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in response.headers  # not a page, or /docs (an inline script)


def test_a_refused_body_carries_them_too(client):
    response = client.post("/api/runs/layers/0.npy", content=b"x" * (client.app.state.settings.max_message_bytes + 1),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
