"""Campaigns (issue 19): audiences materialised once, fed into the one outbox in batches within the
campaign's schedule, business hours and daily cap; counters kept incrementally."""
