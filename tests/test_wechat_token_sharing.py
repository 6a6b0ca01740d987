"""WeChat keeps only the latest access token valid, so processes must share one (through Redis)."""

import pytest
from django.conf import settings

from mall import wechat


def _fresh_process_client():
    # A new client object with its own HTTP session: what another web or worker process would hold.
    wechat._client_for.cache_clear()
    return wechat.client()


@pytest.mark.django_db
def test_processes_share_one_token_through_redis(wechat_sim):
    # given a first process that fetched a token
    first = _fresh_process_client()
    first.wxa._post(
        "wxa/business/getuserphonenumber", data={"code": wechat_sim.phone_code("13800000001")}
    )
    # when a second process makes a call
    second = _fresh_process_client()
    assert second is not first
    second.wxa._post(
        "wxa/business/getuserphonenumber", data={"code": wechat_sim.phone_code("13800000002")}
    )
    # then it reused the shared token instead of fetching one (which would invalidate the first's)
    assert wechat_sim.request_count("/cgi-bin/token") == 1
    assert settings.REDIS_URL
