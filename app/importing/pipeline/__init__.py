"""The import task: stream the file in batches, normalise, dedupe, write set-based, report.

The modules follow the data flow:
  plan.py           what to read and how (the job row's mapping and options)
  normalise.py      raw batch -> normalised fields, per-line issues, dedupe keys, row owners
  keymap.py         the in-file key map (keys of earlier batches -> customer) and dedupe state
  database.py       the raw-SQL helper: own psycopg connections, COPY, temp tables, id blocks
  batches.py        batch preparation: lookups, grouping into customers, values by policy, counts
  writers.py        ordered writers: set-based writes, commits strictly in batch order
  bulk.py           bulk mode: indexes and keys dropped for a first big import, rebuilt at the end
  orchestration.py  run(): locks, checkpoints and resume, the read -> prepare -> write loop, report

Per batch (one transaction, committed with the checkpoint, so a crashed worker resumes from the
last committed batch with no row lost or counted twice):
  read block -> normalise in polars -> group rows that share a phone/e-mail (within the batch, with
  earlier batches of the file, with existing customers through the contacts unique index) ->
  COPY the customers to write and their contacts into temp tables -> INSERT new customers,
  UPDATE matched ones (diff computed in SQL, timeline row per updated customer), INSERT contacts
  ON CONFLICT DO NOTHING -> COPY the per-line issues -> checkpoint.

No ORM objects on this path: this runs on its own psycopg connection and commits per batch (the
task path is the one place allowed to commit on its own).

Timeline: a created customer carries `customers.import_id` (the import that created it) and the
timeline derives its "criado pela importação #N" entry from it; an updated customer gets an
`interactions` row kind="import" with the changed fields. Writing an interaction row per created
customer would cost seconds the performance target does not have.

Sibling modules call each other through the module (`bulk.restore_indexes(...)`), so a test that
replaces a step patches it in the one module that defines it.
"""

from app.importing.pipeline.database import Db, connection, reserve_ids
from app.importing.pipeline.keymap import KeyMap, State
from app.importing.pipeline.orchestration import Cancelled, run
from app.importing.pipeline.plan import POLICIES, Plan

__all__ = ["POLICIES", "Cancelled", "Db", "KeyMap", "Plan", "State", "connection", "reserve_ids", "run"]
