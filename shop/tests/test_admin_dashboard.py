import pytest

from catalog.tests.factories import SkuFactory


@pytest.mark.django_db
def test_admin_index_shows_todays_figures_and_shortcuts(admin_client):
    # given a SKU under its low-stock threshold
    SkuFactory(stock=2, low_stock_threshold=5)
    # when
    response = admin_client.get("/admin/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "今日概览" in page
    assert response.context["dashboard"]["low_stock"] == 1
    assert "批量发货" in page
    assert "核销自提" in page


@pytest.mark.django_db
def test_admin_index_shows_promotions_and_members_at_a_glance(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from marketing.models import FlashSession
    from members.tests.factories import MemberFactory

    now = timezone.now()
    FlashSession.objects.create(
        name="10:00 场", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    FlashSession.objects.create(
        name="20:00 场", starts_at=now + timedelta(hours=3), ends_at=now + timedelta(hours=4)
    )
    MemberFactory()
    response = admin_client.get("/admin/")
    figures = response.context["dashboard"]
    assert (figures["flash_running"], figures["members_new_today"]) == (1, 1)
    assert "营销与会员" in response.content.decode()
