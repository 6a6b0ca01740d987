"""Member tags: manual tags by service and in the admin, messages to a tag's members."""

import pytest

from mall.errors import TagNotManual
from members.models import MemberTag, SubscribeMessage, Tag
from members.tags import (
    member_tags_add,
    member_tags_remove,
    tag_member_ids,
    tag_subscribe_messages_queue,
    tags_auto_ensure,
)
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_manual_tags_add_remove_and_auto_tags_refused():
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(3)
    ids = [m.pk for m in members]
    auto_new = tags_auto_ensure()["new"]

    # when / then
    assert member_tags_add(member_ids=ids, tag_id=vip.pk) == 3
    assert member_tags_add(member_ids=ids, tag_id=vip.pk) == 0
    assert [pk for batch in tag_member_ids(tag_id=vip.pk, batch_size=2) for pk in batch] == sorted(
        ids
    )
    assert member_tags_remove(member_ids=ids[:1], tag_id=vip.pk) == 1
    with pytest.raises(TagNotManual):
        member_tags_add(member_ids=ids, tag_id=auto_new)
    assert MemberTag.objects.filter(tag_id=vip.pk).count() == 2


def test_admin_tag_action_assigns_a_manual_tag(admin_client):
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(2)

    # when: the action's form, then its confirmation
    data = {"action": "member_tag_add_action", "_selected_action": [m.pk for m in members]}
    form = admin_client.post("/admin/members/member/", data)
    done = admin_client.post("/admin/members/member/", {**data, "apply": "1", "tag": vip.pk})

    # then
    assert form.status_code == 200
    assert "添加标签" in form.content.decode()
    assert done.status_code == 302
    assert MemberTag.objects.filter(tag=vip).count() == 2


def test_a_message_to_a_tag_goes_once_per_campaign():
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(3)
    member_tags_add(member_ids=[m.pk for m in members[:2]], tag_id=vip.pk)
    data = {"thing1": {"value": "会员日"}, "thing2": {"value": "全场 9 折"}}

    # when
    first = tag_subscribe_messages_queue(
        tag_id=vip.pk, template_key="member_day", data=data, campaign="2026-11"
    )
    again = tag_subscribe_messages_queue(
        tag_id=vip.pk, template_key="member_day", data=data, campaign="2026-11"
    )

    # then
    assert (first, again) == (2, 0)
    assert set(SubscribeMessage.objects.values_list("member_id", flat=True)) == {
        members[0].pk,
        members[1].pk,
    }
