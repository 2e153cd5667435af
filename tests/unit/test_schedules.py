"""What the taskiq scheduler runs (cron labels on the tasks), so a renamed task cannot drop silently."""

import asyncio

from taskiq.schedule_sources import LabelScheduleSource


def test_scheduled_tasks() -> None:
    import tasks.scheduler  # noqa: F401 - registers every scheduled task on the broker
    from tasks.broker import broker

    async def collect():
        source = LabelScheduleSource(broker)
        await source.startup()  # reads the cron labels, as the scheduler process does
        return await source.get_schedules()

    schedules = asyncio.run(collect())
    crons = {s.task_name: s.cron for s in schedules}
    assert crons["imports.purge_stale_uploads"] == "17 * * * *"
    assert crons["notifications.sweep_reminders"] == "* * * * *"
    assert crons["crm.sync_pending_search"] == "* * * * *"
    assert crons["platform.purge_unconfirmed"] == "41 3 * * *"
    # Imports whose worker died are resumed (app/importing/recovery.py).
    assert crons["imports.recover_dead_imports"] == "* * * * *"
    # Scheduled messages, follow-ups and recurring sends (app/messaging/scheduling.py), with a unique id.
    assert crons["scheduled.sweep"] == "* * * * *"
    ids = [s.schedule_id for s in schedules if s.task_name == "scheduled.sweep"]
    assert ids == ["scheduled-messages-every-minute"]
