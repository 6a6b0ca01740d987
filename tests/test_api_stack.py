"""The shopper API's short way through the middleware (mall.middleware) and the content
negotiation's short way (mall.negotiation): the API keeps its security headers and error
envelopes, the admin keeps its whole stack."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from catalog.api.serializers import ProductListQuerySerializer
from catalog.api.views import ProductListApi

pytestmark = pytest.mark.django_db


def _api_patterns() -> list[URLPattern]:
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and str(entry.pattern) == "api/v1/"
    ]
    return list(api.url_patterns)


def test_api_answers_with_the_security_headers_and_without_the_admins_middleware(
    client: Client,
) -> None:
    response = client.get("/api/v1/products")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Length"] == str(len(response.content))
    # No session, CSRF cookie or language negotiation for a token-authenticated JSON API.
    assert not response.cookies
    assert "Content-Language" not in response
    assert "Accept-Language" not in response.get("Vary", "")


def test_admin_keeps_its_whole_stack() -> None:
    client = Client(enforce_csrf_checks=True)
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert login["X-Frame-Options"] == "DENY"
    assert login["X-Content-Type-Options"] == "nosniff"
    assert login["Content-Language"] == "zh-hans"
    assert "csrftoken" in login.cookies

    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    credentials = {"username": "boss", "password": "pw-123456", "next": "/admin/"}
    assert client.post("/admin/login/", credentials).status_code == 403  # no CSRF token
    credentials["csrfmiddlewaretoken"] = login.cookies["csrftoken"].value
    logged_in = client.post("/admin/login/", credentials)
    assert (logged_in.status_code, logged_in["Location"]) == (302, "/admin/")
    assert "sessionid" in logged_in.cookies
    assert client.get("/admin/").status_code == 200


def test_every_api_view_is_csrf_exempt() -> None:
    # CsrfViewMiddleware, skipped by the API, would let these views through anyway.
    patterns = _api_patterns()
    assert len(patterns) > 40
    assert [str(p.pattern) for p in patterns if not getattr(p.callback, "csrf_exempt", False)] == []


def test_an_exception_in_an_api_view_is_the_json_500(monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ProductListApi, "get", broken)
    response = Client(raise_request_exception=False).get("/api/v1/products")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*;q=0.5"])
def test_json_is_negotiated_for_what_clients_accept(client: Client, accept: str | None) -> None:
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    response = client.get("/api/v1/categories", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_what_the_api_cannot_render_is_refused_as_before(client: Client) -> None:
    html = client.get("/api/v1/categories", HTTP_ACCEPT="text/html")
    assert (html.status_code, html.json()["code"]) == (406, "not_acceptable")
    # DRF answers an unknown ?format= with 404; with the shortcut, ?format= is negotiated.
    xml = client.get("/api/v1/categories?format=xml")
    assert (xml.status_code, xml.json()["code"]) == (404, "not_found")


def test_query_serializers_validate_with_fields_of_their_own() -> None:
    first = ProductListQuerySerializer(data={"page": "0", "ordering": "nonsense"})
    second = ProductListQuerySerializer(data={"page": "2", "in_stock": "true"})

    assert not first.is_valid()
    assert set(first.errors) == {"page", "ordering"}
    assert second.is_valid(), second.errors
    assert second.validated_data == {"page": 2, "in_stock": True}
    assert first.fields["page"] is not second.fields["page"]
    assert second.fields["page"].parent is second
