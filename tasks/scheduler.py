"""The taskiq scheduler (one per deployment, beside the workers): cron labels on the tasks.

    taskiq scheduler tasks.scheduler:scheduler
    taskiq worker tasks.broker:broker tasks.crm tasks.imports tasks.notifications

Scheduled today: `notifications.sweep_reminders` every minute. Embedded mode (no REDIS_URL) has no
scheduler process; the app runs the sweep itself (tasks.notifications.reminder_loop).
"""

from taskiq import TaskiqScheduler
from taskiq.schedule_sources import LabelScheduleSource

import tasks.notifications  # noqa: F401  (registers the scheduled tasks on the broker)
from tasks.broker import broker

scheduler = TaskiqScheduler(broker=broker, sources=[LabelScheduleSource(broker)])
