"""Task cards (任务卡): each rewarded once, triggered where the event happens."""
# ruff: noqa: F811 (pytest fixtures imported from the payments tests)

import pytest
from rest_framework.test import APIClient

from catalog.tests.factories import SkuFactory
from members.models import Member, TaskCard, TaskCompletion
from members.points import points_balance_matches_ledger
from members.task_cards import task_cards_ensure, task_complete
from members.tests.factories import MemberFactory
from payments.tests.conftest import pay_and_settle, place_order, shopper, sim_pay  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(db):
    task_cards_ensure()
    return {task.code: task for task in TaskCard.objects.all()}


def test_a_task_is_rewarded_once(tasks):
    member = MemberFactory()
    assert task_complete(member_id=member.pk, code="invite_friend") is True
    assert task_complete(member_id=member.pk, code="invite_friend") is False
    member.refresh_from_db()
    assert member.points_balance == tasks["invite_friend"].points
    assert TaskCompletion.objects.filter(member=member).count() == 1
    assert points_balance_matches_ledger(member_id=member.pk)


def test_inactive_or_unknown_tasks_complete_nothing(tasks):
    member = MemberFactory()
    TaskCard.objects.filter(code="invite_friend").update(is_active=False)
    assert task_complete(member_id=member.pk, code="invite_friend") is False
    assert task_complete(member_id=member.pk, code="no_such_task") is False
    assert Member.objects.get(pk=member.pk).points_balance == 0


def test_binding_the_phone_completes_bind_phone_and_then_the_profile(
    tasks, member_login, wechat_sim
):
    # given: a member with a nickname and an avatar
    member_id, client = member_login("o-task-phone")
    Member.objects.filter(pk=member_id).update(
        nickname="小明", avatar_url="https://a.example/x.png"
    )
    # when: twice
    for _ in range(2):
        answer = client.post(
            "/api/v1/auth/phone", {"code": wechat_sim.phone_code("13800000000")}, format="json"
        )
        assert answer.status_code == 200, answer.content
    # then
    done = set(
        TaskCompletion.objects.filter(member_id=member_id).values_list("task__code", flat=True)
    )
    assert done == {"bind_phone", "complete_profile"}
    assert Member.objects.get(pk=member_id).points_balance == 40


def test_first_paid_order_completes_first_order(tasks, shopper, sim_pay):
    order = place_order(shopper.member, [(SkuFactory(price_fen=990, stock=5), 1)])
    pay_and_settle(shopper, order, sim_pay)
    second = place_order(shopper.member, [(SkuFactory(price_fen=990, stock=5), 1)])
    pay_and_settle(shopper, second, sim_pay)
    assert list(
        TaskCompletion.objects.filter(member=shopper.member).values_list("task__code", flat=True)
    ) == ["first_order"]
    assert Member.objects.get(pk=shopper.member.pk).points_balance == 50


def test_tasks_api_lists_mine_with_done(tasks, django_assert_max_num_queries):
    member = MemberFactory()
    task_complete(member_id=member.pk, code="bind_phone")
    client = APIClient()
    client.force_authenticate(user=member)
    with django_assert_max_num_queries(2):
        answer = client.get("/api/v1/tasks")
    body = answer.json()
    assert (answer.status_code, body["count"]) == (200, 5)
    done = {row["code"]: row["done"] for row in body["results"]}
    assert done == {
        "complete_profile": False,
        "bind_phone": True,
        "first_order": False,
        "first_review": False,
        "invite_friend": False,
    }
