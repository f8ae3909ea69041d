-- The dashboard's transactions and tickets pages read a tenant's transactions and a project's tickets
-- newest first, a page at a time (ids are time-ordered UUIDv7): an index each so a page reads its rows only.
CREATE INDEX prog_transaction_by_tenant ON prog_transaction (tenant_id, id);
CREATE INDEX prog_ticket_by_project ON prog_ticket (project_id, id);
