"""Fixtures shared by every app's tests: the WeChat simulator, API clients, a clean cache."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient

from wechat_sim import RunningSimulator, start_simulator


@pytest.fixture
def real_worker() -> Iterator[None]:
    """A Celery worker (two threads) consuming the tests' Redis broker; tasks are published, not
    run eagerly, while it runs. Modules override it to add their settings (quicker retries)."""
    from celery.contrib.testing.worker import start_worker

    from mall.celery import app as celery_app

    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app, perform_ping_check=False, pool="threads", concurrency=2, loglevel="WARNING"
        ):
            yield
    finally:
        celery_app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    cache.clear()  # Redis db of the tests: cached lists and WeChat tokens start empty
    from catalog.cache import catalog_cache_forget_local
    from marketing.services import campaigns

    catalog_cache_forget_local()  # this process's copies of the catalogue cache

    campaigns._local_copy = None  # this process's copy of the shared snapshot


@pytest.fixture(scope="session")
def _simulator_server() -> Iterator[RunningSimulator]:
    sim = start_simulator(port=0)
    yield sim
    sim.stop()


@dataclass
class Sim:
    """The running simulator, reset for this test, with helpers for its /_sim/ control API."""

    server: RunningSimulator

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, self.base_url + "_sim/" + path, timeout=5, **kwargs)
        response.raise_for_status()
        return response.json()

    def login_code(self, openid: str, unionid: str | None = None) -> str:
        body = {"openid": openid} | ({"unionid": unionid} if unionid else {})
        return self.control("POST", "codes", json=body)["code"]

    def phone_code(self, phone: str) -> str:
        return self.control("POST", "phone-codes", json={"phone": phone})["code"]

    def messages(self, touser: str | None = None) -> list[dict[str, Any]]:
        return self.control("GET", "messages", params={"touser": touser} if touser else {})[
            "results"
        ]

    def inject_error(self, path: str, errcode: int, times: int = 1, errmsg: str = "") -> None:
        self.control(
            "POST",
            "errors",
            json={"path": path, "errcode": errcode, "errmsg": errmsg, "times": times},
        )

    def request_count(self, path: str) -> int:
        return self.control("GET", "requests", params={"path": path})["count"]


@pytest.fixture
def wechat_sim(_simulator_server: RunningSimulator, settings: Any) -> Sim:
    sim = Sim(_simulator_server)
    sim.control("POST", "reset")
    settings.WECHAT_API_BASE = sim.base_url
    settings.WECHAT_PAY_API_BASE = sim.base_url
    return sim


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def member_login(wechat_sim: Sim, api_client: APIClient) -> Any:
    """Log a shopper in through the real flow; returns (member id, an APIClient with its token)."""

    def login(openid: str = "o-shopper-1") -> tuple[int, APIClient]:
        response = APIClient().post(
            "/api/v1/auth/login", {"code": wechat_sim.login_code(openid)}, format="json"
        )
        assert response.status_code == 200, response.content
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token " + response.json()["token"])
        return response.json()["member"]["id"], client

    return login
