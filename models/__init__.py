"""SQLModel tables.

`models.platform` holds the shared `platform` schema; `models.tenant` holds the tables
that exist once per tenant schema (declared with schema=None and placed by the session's
schema_translate_map / search_path).
"""
