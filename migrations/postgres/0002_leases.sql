-- sheetsync shared state, version 2: one lease per (store, spreadsheet, tab), with an
-- epoch as fencing token. A writer takes the lease (epoch + 1) before it writes; every
-- journal and state write checks, in its own transaction, that the lease is still its
-- own under the same epoch and unexpired on the database's clock. expires_at is always
-- compared with the database's now(), never a client clock.
-- A later fleet migration adds `pairs` and `workers`; claims then take free leases with
-- FOR UPDATE SKIP LOCKED and a worker renews all of its leases in one UPDATE … WHERE
-- holder = $worker.

CREATE TABLE sheetsync.leases (
    scope_id bigint PRIMARY KEY REFERENCES sheetsync.scopes (id),
    holder text,
    epoch bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at timestamptz
);
CREATE INDEX leases_by_holder ON sheetsync.leases (holder) WHERE holder IS NOT NULL;
CREATE INDEX leases_by_expiry ON sheetsync.leases (expires_at);

-- Who wrote what, under which grant: epochs never go backwards per scope.
ALTER TABLE sheetsync.runs ADD COLUMN holder text, ADD COLUMN epoch bigint;
ALTER TABLE sheetsync.requests ADD COLUMN epoch bigint;
