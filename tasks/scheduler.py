"""The taskiq scheduler (one per deployment, beside the workers): cron labels on the tasks.

    taskiq scheduler tasks.scheduler:scheduler
    taskiq worker tasks.broker:broker tasks.heartbeat tasks.campaigns tasks.crm tasks.imports \
        tasks.messaging tasks.notifications tasks.platform tasks.scheduled

Scheduled today: `notifications.sweep_reminders`, `crm.sync_pending_search` (index updates that
failed while Meilisearch was down) and `imports.recover_dead_imports` (imports whose worker died are
resumed; every worker also does it at start) every minute, `imports.purge_stale_uploads` hourly,
`platform.purge_unconfirmed` (sign-ups never confirmed) daily, `campaigns.sweep` (scheduled campaigns,
business hours opening, daily caps resetting), `messaging.sweep` (outbox leases and due
retries) and `scheduled.sweep` (scheduled messages, follow-ups, recurring sends) every minute.
Embedded mode (no REDIS_URL) has no scheduler process; the app runs the sweeps, the purges and the
recovery itself (tasks.notifications.reminder_loop, tasks.imports.purge_loop,
tasks.platform.purge_unconfirmed_loop, recover_loop, tasks.campaigns.sweep_loop, tasks.scheduled.sweep_loop).
"""

from taskiq import TaskiqScheduler
from taskiq.schedule_sources import LabelScheduleSource

# Imported for their scheduled tasks, which register on the broker.
import tasks.campaigns
import tasks.crm
import tasks.imports
import tasks.messaging
import tasks.notifications
import tasks.platform
import tasks.scheduled  # noqa: F401
from tasks.broker import broker

scheduler = TaskiqScheduler(broker=broker, sources=[LabelScheduleSource(broker)])
