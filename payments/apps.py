from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "支付"

    def ready(self) -> None:
        # Registers the tasks the services queue by name (payments.task_names) in every
        # process, so eager Celery runs them.
        from . import tasks  # noqa: F401
