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
