"""The OpenAPI document describes the error bodies the JSON routes answer, and the answers fit it."""

from __future__ import annotations

import msgspec
import pytest

from fieldapp import web


@pytest.fixture
def document(app):
    return app.openapi_schema.to_schema()


def _api_operations(document):
    return [(path, method, operation) for path, operations in document["paths"].items() if path.startswith("/api/")
            for method, operation in operations.items()]


def test_every_json_route_documents_its_error_bodies(document):
    operations = _api_operations(document)
    assert len(operations) >= 15
    for path, method, operation in operations:
        wanted = {"400", "401", "403", "404"} | ({"413", "415"} if method in ("post", "put", "patch", "delete") else set())
        assert wanted <= set(operation["responses"]), (method, path)
        for status in wanted:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "status"}


def _fits(response) -> web.ErrorBody:
    assert response.headers["content-type"].startswith("application/json")
    body = msgspec.convert(response.json(), web.ErrorBody)  # unknown fields refused: the body is exactly this
    assert body.status == response.status_code
    return body


def test_the_error_answers_fit_the_documented_body(client, login):
    assert _fits(client.get("/api/sync/pull")).login == "/login"  # 401
    officer = login("officer1")
    assert _fits(officer.get("/api/no-such-route")).status == 404
    assert _fits(officer.get("/api/picture/cells/not-a-cell")).status in (400, 404)
    assert _fits(officer.client.post("/api/sync", json={"records": []})).status == 403  # no CSRF token
    assert _fits(officer.post_json("/api/sync", {"records": [{"id": 5}]})).status == 400
    assert _fits(officer.client.post("/api/sync", content=b"x=1", headers={
        "X-CSRF-Token": officer.csrf, "Content-Type": "application/x-www-form-urlencoded"})).status == 415
    refused = _fits(officer.post_json("/api/push/subscriptions", {"endpoint": "https://intranet.invalid/x",
                                                                  "keys": {"p256dh": "x", "auth": "y"}}))
    assert refused.status == 400 and "endpoint" in refused.errors
    assert _fits(login("admin1").get("/api/push/key")).status == 403  # a role that may not
