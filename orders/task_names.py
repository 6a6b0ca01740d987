"""Names of the orders tasks that orders' services queue. orders.tasks calls the services, so
the services queue its tasks by name (mall.celery.app.signature) rather than import it."""

ORDER_EXPIRE = "orders.tasks.order_close_if_unpaid_task"
ORDERS_EXPIRE_DUE = "orders.tasks.orders_expire_due_task"
ORDER_SHIPPING_INFO_UPLOAD = "orders.tasks.order_shipping_info_upload_task"
