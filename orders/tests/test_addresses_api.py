import pytest

from members.tests.factories import MemberFactory
from orders.models import Address
from orders.tests.factories import AddressFactory, PickupPointFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/addresses"
BODY = {
    "name": "李四",
    "phone": "13912345678",
    "province": "上海市",
    "city": "上海市",
    "district": "徐汇区",
    "detail": "漕溪北路 1 号",
}


def test_first_address_is_the_default_and_a_new_default_replaces_it(member, shopper_client):
    # when
    first = shopper_client.post(URL, BODY, format="json").json()
    second = shopper_client.post(URL, BODY | {"is_default": True}, format="json").json()
    third = shopper_client.post(URL, BODY, format="json").json()
    # then
    assert (first["is_default"], second["is_default"], third["is_default"]) == (True, True, False)
    assert list(
        Address.objects.filter(member=member, is_default=True).values_list("pk", flat=True)
    ) == [second["id"]]
    assert shopper_client.get(URL).json()["results"][0]["id"] == second["id"]


def test_deleting_the_default_hands_it_to_another(member, shopper_client):
    first = shopper_client.post(URL, BODY, format="json").json()
    second = shopper_client.post(URL, BODY, format="json").json()
    assert shopper_client.delete(f"{URL}/{first['id']}").status_code == 204
    assert Address.objects.get(pk=second["id"]).is_default is True


def test_unsetting_the_default_moves_it(member, shopper_client):
    first = shopper_client.post(URL, BODY, format="json").json()
    second = shopper_client.post(URL, BODY, format="json").json()
    response = shopper_client.patch(f"{URL}/{first['id']}", {"is_default": False}, format="json")
    assert response.json()["is_default"] is False
    assert Address.objects.get(pk=second["id"]).is_default is True


@pytest.mark.parametrize(
    "phone", ["13912345678", "010-12345678", "0571 87654321", "0571-87654321-8"]
)
def test_valid_phones(shopper_client, phone):
    assert shopper_client.post(URL, BODY | {"phone": phone}, format="json").status_code == 201


@pytest.mark.parametrize("phone", ["12912345678", "1391234567", "abc", "87654321", ""])
def test_invalid_phones(shopper_client, phone):
    response = shopper_client.post(URL, BODY | {"phone": phone}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "phone" in response.json()["detail"]
    assert not Address.objects.exists()


def test_at_most_twenty(member, shopper_client):
    AddressFactory.create_batch(20, member=member)
    response = shopper_client.post(URL, BODY, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "address_limit_reached")


def test_update_and_the_owner_cannot_be_written(member, shopper_client):
    other = MemberFactory()
    created = shopper_client.post(URL, BODY | {"member": other.pk}, format="json").json()
    response = shopper_client.patch(
        f"{URL}/{created['id']}", {"detail": "新地址", "member": other.pk}, format="json"
    )
    assert response.json()["detail"] == "新地址"
    assert Address.objects.get().member_id == member.pk


def test_another_members_address_is_not_found(shopper_client):
    address = AddressFactory(member=MemberFactory())
    assert (
        shopper_client.patch(f"{URL}/{address.pk}", {"name": "x"}, format="json").status_code == 404
    )
    assert shopper_client.delete(f"{URL}/{address.pk}").status_code == 404
    assert Address.objects.filter(pk=address.pk).exists()


def test_address_list_query_budget(member, shopper_client, django_assert_num_queries):
    AddressFactory.create_batch(12, member=member)
    with django_assert_num_queries(1):
        assert shopper_client.get(URL).json()["count"] == 12


def test_pickup_points_lists_active_ones(shopper_client, django_assert_num_queries):
    PickupPointFactory.create_batch(12)
    PickupPointFactory(is_active=False)
    with django_assert_num_queries(2):
        body = shopper_client.get("/api/v1/pickup-points").json()
    assert body["count"] == 12
    assert len(body["results"]) == 10
    assert set(body["results"][0]) >= {"name", "address", "hours", "latitude", "longitude"}
