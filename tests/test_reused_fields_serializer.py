"""ReusedFieldsInputSerializer: one set of bound fields per thread, and each request still
validated on its own (errors, defaults, nested lists)."""

import threading

from rest_framework import serializers

from mall.serializers import ReusedFieldsInputSerializer


class _Line(serializers.Serializer):
    sku_id = serializers.IntegerField(min_value=1)


class _Body(ReusedFieldsInputSerializer):
    lines = _Line(many=True, max_length=3)
    note = serializers.CharField(required=False, default="", max_length=5)


def test_fields_are_built_once_per_thread_and_requests_do_not_leak():
    first = _Body(data={"lines": [{"sku_id": 1}], "note": "hi"})
    assert first.is_valid(), first.errors
    second = _Body(data={"lines": [{"sku_id": 0}, {"sku_id": 2}]})
    assert not second.is_valid()
    third = _Body(data={"lines": [{"sku_id": 3}]})
    assert third.is_valid(), third.errors
    # then: the same bound fields, and each answer its own
    assert first.fields is second.fields is third.fields
    assert first.validated_data == {"lines": [{"sku_id": 1}], "note": "hi"}
    assert list(second.errors["lines"]) == [0]  # only the bad line, by index
    assert "sku_id" in second.errors["lines"][0]
    assert third.validated_data == {"lines": [{"sku_id": 3}], "note": ""}


def test_another_thread_partial_or_context_gets_fields_of_its_own():
    body = _Body(data={"lines": [{"sku_id": 1}]})
    others = []
    thread = threading.Thread(target=lambda: others.append(_Body(data={}).fields))
    thread.start()
    thread.join()
    assert others[0] is not body.fields
    partial = _Body(data={}, partial=True)
    assert partial.fields is not body.fields
    assert partial.is_valid(), partial.errors  # partial: the missing lines are not required
    assert not _Body(data={}).is_valid()  # … while the full body's root is not partial
    assert _Body(data={}, context={"request": None}).fields is not body.fields
