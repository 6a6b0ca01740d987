"""Services queue their app's tasks by name: every such name is a task registered in any
process once Django is set up (not only in a worker), or eager Celery would not run it."""

import subprocess
import sys

from orders import task_names as orders_task_names
from payments import task_names as payments_task_names

SCRIPT = """
import django
django.setup()
from mall.celery import app
print("\\n".join(sorted(app.tasks)))
"""


def _names(module: object) -> set[str]:
    return {value for key, value in vars(module).items() if key.isupper()}


def test_the_tasks_services_queue_by_name_are_registered_in_a_web_process():
    registered = subprocess.run(  # noqa: S603 - this interpreter, our script
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = _names(orders_task_names) | _names(payments_task_names)
    assert len(expected) == 8
    assert expected <= set(registered)
