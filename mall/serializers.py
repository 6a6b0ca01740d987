"""Serializer helpers for hot request bodies."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from rest_framework import serializers

_bound_fields = threading.local()


class ReusedFieldsInputSerializer(serializers.Serializer):
    """An input serializer whose bound fields are built once per thread and class, not once per
    request: DRF deep-copies (re-initialises) every declared field for each serializer it
    builds, and for the checkout body that cost as much as validating it.

    Sound only for request bodies whose fields keep no request state: plain values and nested
    serializers of such, constant defaults, no validator that reads the context (the reused
    fields' root is the thread's first instance; an instance given a context builds its own).
    `partial` is part of the key (fields read it from their root). Never for output.
    """

    @cached_property
    def fields(self) -> Any:
        if self._context:  # the schema generator's instances, say: fields of their own
            return super().fields
        shared = _bound_fields.__dict__.setdefault("by_class", {})
        key = (type(self), self.partial)
        fields = shared.get(key)
        if fields is None:
            fields = shared[key] = super().fields
        return fields
