import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from members.models import Member

pytestmark = pytest.mark.django_db


def test_good_code_gives_token_and_member(wechat_sim, api_client):
    # given
    code = wechat_sim.login_code("o-alice", unionid="u-alice")
    # when
    response = api_client.post("/api/v1/auth/login", {"code": code}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["token"]
    member = Member.objects.get(openid="o-alice")
    assert member.unionid == "u-alice"
    assert body["member"]["id"] == member.id
    assert {"level", "points", "balance_fen"} <= body["member"].keys()
    # the token authenticates the shopper
    api_client.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    me = api_client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == member.id


def test_second_login_finds_the_same_member(wechat_sim, api_client):
    for _ in range(2):
        response = api_client.post(
            "/api/v1/auth/login", {"code": wechat_sim.login_code("o-bob")}, format="json"
        )
        assert response.status_code == 200
    assert Member.objects.filter(openid="o-bob").count() == 1


@pytest.mark.parametrize("reuse", [True, False], ids=["reused", "unknown"])
def test_bad_code_is_400_wechat_login_failed(wechat_sim, api_client, reuse):
    code = wechat_sim.login_code("o-carol") if reuse else "never-issued"
    if reuse:
        assert (
            api_client.post("/api/v1/auth/login", {"code": code}, format="json").status_code == 200
        )
    response = api_client.post("/api/v1/auth/login", {"code": code}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "wechat_login_failed"
    assert response.json()["detail"]["errcode"] in (40029, 40163)


def test_simulator_down_is_502(settings, api_client):
    settings.WECHAT_API_BASE = "http://127.0.0.1:9/"  # nothing listens on the discard port
    response = api_client.post("/api/v1/auth/login", {"code": "any"}, format="json")
    assert response.status_code == 502
    assert response.json()["code"] == "wechat_unavailable"
    assert Member.objects.count() == 0


def test_expired_access_token_is_refreshed_transparently(wechat_sim, member_login):
    # given a token already fetched and then expired on WeChat's side
    _, client = member_login("o-d")
    fetched = wechat_sim.request_count("/cgi-bin/token")
    wechat_sim.control("POST", "expire-token")
    # when a call needing the token is made
    response = client.post(
        "/api/v1/auth/phone", {"code": wechat_sim.phone_code("13700000000")}, format="json"
    )
    # then wechatpy fetched a new token and retried, unseen by the shopper
    assert response.status_code == 200
    assert wechat_sim.request_count("/cgi-bin/token") == fetched + 1
    assert wechat_sim.request_count("/wxa/business/getuserphonenumber") == 2


def test_another_process_fetching_a_token_does_not_break_us(wechat_sim, member_login):
    # given our token, then another process (sharing nothing) fetches its own: ours is superseded
    _, client = member_login("o-e")
    requests.get(
        wechat_sim.base_url + "cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": "wx0000000000000001",
            "secret": "sim-app-secret-000000000000000000",
        },
        timeout=5,
    ).raise_for_status()
    # when
    response = client.post(
        "/api/v1/auth/phone", {"code": wechat_sim.phone_code("13700000001")}, format="json"
    )
    # then
    assert response.status_code == 200


def test_phone_binding(wechat_sim, member_login):
    member_id, client = member_login("o-phone")
    response = client.post(
        "/api/v1/auth/phone", {"code": wechat_sim.phone_code("13912345678")}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"phone": "13912345678"}
    assert Member.objects.get(pk=member_id).phone == "13912345678"
    again = client.post("/api/v1/auth/phone", {"code": "bogus"}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "phone_code_invalid"


@pytest.mark.parametrize("header", [None, "Token nope", "Token", "Bearer x"])
def test_missing_or_invalid_token_is_401(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get("/api/v1/me")
    if header == "Bearer x":  # another scheme is simply no credentials
        assert response.json()["code"] == "not_authenticated"
    assert response.status_code == 401
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")
    assert response.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_logins_create_one_member(wechat_sim):
    codes = [wechat_sim.login_code("o-race") for _ in range(8)]
    start = threading.Barrier(len(codes))

    def login(code):
        start.wait()
        try:
            return APIClient().post("/api/v1/auth/login", {"code": code}, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        statuses = list(pool.map(login, codes))
    assert statuses == [200] * len(codes)
    assert Member.objects.filter(openid="o-race").count() == 1
