from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "支付"

    def ready(self) -> None:
        from orders.services import order_expirer_install

        # Registers the tasks the services queue by name (payments.task_names) in every
        # process, so eager Celery runs them.
        from . import tasks  # noqa: F401
        from .services import order_expire_unless_wechat_busy

        # orders' expiry tasks and sweep ask WeChat Pay before cancelling an unpaid order.
        order_expirer_install(order_expire_unless_wechat_busy)
