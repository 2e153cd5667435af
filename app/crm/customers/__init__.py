"""Customers: filtered keyset list, profile, create/update with custom fields, soft delete,
bulk actions (inline for small selections, a background job with progress for large ones), CSV export.

Split the way Polar splits a module: schemas (pydantic in/out), queries (filters, list, count,
profile), service (create/update/delete), bulk (bulk jobs), export (CSV). Callers keep using
`from app.crm import customers; customers.<name>`.
"""

from app.brazil.documents import clean_document
from app.crm.customers import bulk, export, queries, schemas, service
from app.crm.customers.bulk import (
    BULK_CHUNK,
    INLINE_BULK_LIMIT,
    apply_bulk_chunk,
    begin_bulk_job,
    chunks,
    finish_bulk_job,
    get_bulk_job,
    run_bulk_job,
    start_bulk,
)
from app.crm.customers.export import EXPORT_COLUMNS, check_export, export_csv
from app.crm.customers.queries import (
    BUSINESS_TZ,
    SORTS,
    count_customers,
    customer_row,
    filter_clauses,
    get_customer,
    list_customers,
    stored_filter,
)
from app.crm.customers.schemas import (
    BULK_ACTIONS,
    STATUSES,
    BulkRequest,
    CustomerDetail,
    CustomerFilter,
    CustomerIn,
    CustomerQuery,
    CustomerRow,
    CustomerUpdate,
    CustomRange,
    CustomValue,
)
from app.crm.customers.service import check_tags, create_customer, delete_customer, update_customer

__all__ = [
    "BULK_ACTIONS",
    "BULK_CHUNK",
    "BUSINESS_TZ",
    "EXPORT_COLUMNS",
    "INLINE_BULK_LIMIT",
    "SORTS",
    "STATUSES",
    "BulkRequest",
    "CustomRange",
    "CustomValue",
    "CustomerDetail",
    "CustomerFilter",
    "CustomerIn",
    "CustomerQuery",
    "CustomerRow",
    "CustomerUpdate",
    "apply_bulk_chunk",
    "begin_bulk_job",
    "bulk",
    "check_export",
    "check_tags",
    "chunks",
    "clean_document",
    "count_customers",
    "create_customer",
    "customer_row",
    "delete_customer",
    "export",
    "export_csv",
    "filter_clauses",
    "finish_bulk_job",
    "get_bulk_job",
    "get_customer",
    "list_customers",
    "queries",
    "run_bulk_job",
    "schemas",
    "service",
    "start_bulk",
    "stored_filter",
    "update_customer",
]
