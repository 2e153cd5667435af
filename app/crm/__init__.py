"""The CRM workspace services: customers, timeline, conversations, agenda, sales, settings.

Every public function takes (db, actor, ...), checks the actor's permission and visibility,
audits writes and never commits: the caller (REST route, Reflex event, task) owns the transaction.
"""
