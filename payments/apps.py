from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "支付"

    def ready(self) -> None:
        # orders' expiry tasks and sweep ask WeChat Pay before cancelling an unpaid order.
        from orders.services import order_expirer_install

        from .services import order_expire_unless_wechat_busy

        order_expirer_install(order_expire_unless_wechat_busy)
