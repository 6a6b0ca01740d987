"""Names of the payments tasks that payments' services queue. payments.tasks calls the services,
so the services queue its tasks by name (mall.celery.app.signature) rather than import it."""

PAYMENT_PAID_FOLLOWUPS = "payments.tasks.payment_paid_followups_task"
PAID_FOLLOWUPS_SWEEP = "payments.tasks.paid_followups_sweep_task"
REFUND_SUBMIT = "payments.tasks.refund_submit_task"
GROUP_BUY_EXPIRE = "payments.tasks.group_buy_expire_task"
GROUP_BUY_ORDER_REFUND = "payments.tasks.group_buy_order_refund_task"
