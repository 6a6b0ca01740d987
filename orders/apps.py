from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "订单"

    def ready(self) -> None:
        # Registers the tasks the services queue by name (orders.task_names) in every process,
        # so eager Celery runs them.
        from . import tasks  # noqa: F401
