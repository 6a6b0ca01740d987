from pathlib import Path

import pytest

from mall.errors import FRAMEWORK_CODES, all_domain_errors

pytestmark = pytest.mark.django_db


def test_validation_error_envelope(api_client):
    response = api_client.post("/api/v1/auth/login", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "code" in body["detail"]
    assert body["message"]


def test_malformed_json_is_parse_error(api_client):
    response = api_client.post("/api/v1/auth/login", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_405(api_client):
    response = api_client.get("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_every_error_code_is_listed_in_the_readme():
    readme = Path("README.md").read_text(encoding="utf-8")
    codes = set(FRAMEWORK_CODES) | {cls.code for cls in all_domain_errors()}
    missing = sorted(code for code in codes if f"`{code}`" not in readme)
    assert not missing, f"README lacks error codes: {missing}"
