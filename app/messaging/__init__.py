"""Reaching customers: channels (sending identities), the outbox and its send path, provider
adapters behind one protocol, webhooks, templates rendering and the consent ledger (issue 18).

Agents' replies, one-off sends and campaigns all go through the same outbox (`outbox.py`): a message
row is queued in the caller's transaction, a worker reserves it, re-checks consent, calls the adapter
and records the outcome. Adapters (`adapters/`) speak one provider's published HTTP/SMTP contract and
know nothing of the database.
"""
