"""Queueing payments' tasks on commit, by name (payments.task_names): the tasks call these
services, so the services do not import them."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from mall.celery import app

from .. import task_names


def refund_submit_queue(refund_id: int) -> None:
    """On commit: send the refund to WeChat (refund_submit_task)."""
    submit = app.signature(task_names.REFUND_SUBMIT, args=(refund_id,))
    transaction.on_commit(submit.delay, robust=True)


def group_buy_expire_queue(group_id: int, *, eta: datetime) -> None:
    """On commit: fail (or form) the group at its deadline (group_buy_expire_task)."""
    expire = app.signature(task_names.GROUP_BUY_EXPIRE, args=(group_id,))
    transaction.on_commit(lambda: expire.apply_async(eta=eta), robust=True)


def group_buy_order_refund_queue(order_id: int) -> None:
    """On commit: refund a payment that came after its group failed."""
    refund = app.signature(task_names.GROUP_BUY_ORDER_REFUND, args=(order_id,))
    transaction.on_commit(refund.delay, robust=True)
