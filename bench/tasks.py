"""The no-op task: the ceiling of what one worker can process, one task per message.

It is registered only in the worker the benchmark starts (`celery worker --include bench.tasks`)
and carries exactly the options, argument shape and result storage of the real tasks
(tasks/base.py), so its rate is what the broker, the worker and the result backend cost per task
when the task body costs nothing.
"""

from celery_app import app
from tasks.base import TASK_OPTIONS


@app.task(name="bench_noop", **TASK_OPTIONS)
def bench_noop(event_id: str | None = None) -> int:
    return 0
