-- sheetsync shared state, version 1: what the SQLite state holds (src/state/schema.rs,
-- versions 1 and 2), minus tokens. No credential is ever stored in this database.
-- Everything lives in the schema `sheetsync`, so the database may be shared with others.
-- Applied by `sheetsync fleet migrate` in one transaction with its row in
-- sheetsync.migrations. Never edit a shipped migration: add the next one.

-- One row per (store, spreadsheet, tab): today's one-writer key. A later migration's
-- `pairs` (fleet pair files) and `workers` tables reference it.
CREATE TABLE sheetsync.scopes (
    id bigserial PRIMARY KEY,
    shop text NOT NULL,
    spreadsheet_id text NOT NULL,
    tab text NOT NULL,
    UNIQUE (shop, spreadsheet_id, tab)
);

-- Values are tagged as in SQLite ('qty' | 'money' | 'text', JSON text), so Money(12)
-- never comes back as Qty(12). location '' means "no location".
CREATE TABLE sheetsync.baseline (
    scope_id bigint NOT NULL REFERENCES sheetsync.scopes (id),
    sku text NOT NULL,
    field text NOT NULL,
    location text NOT NULL,
    kind text CHECK (kind IN ('qty', 'money', 'text')),
    value text,
    CHECK ((kind IS NULL) = (value IS NULL)),
    PRIMARY KEY (scope_id, sku, field, location)
);

-- Times are the RFC 3339 text the caller made (the run's clock), as in SQLite, so
-- `runs` prints the same on both backends. seq orders runs started in the same second.
CREATE TABLE sheetsync.runs (
    run_id text PRIMARY KEY,
    seq bigserial NOT NULL,
    scope_id bigint NOT NULL REFERENCES sheetsync.scopes (id),
    command text NOT NULL,
    started_at text NOT NULL,
    finished_at text,
    dry_run boolean NOT NULL,
    exit_code integer,
    summary_json text,
    report_json text,
    rows_recorded boolean NOT NULL DEFAULT false
);
CREATE INDEX runs_newest ON sheetsync.runs (scope_id, started_at DESC, seq DESC);

-- The request journal: the exact bytes of each store request, recorded before it is
-- sent (bytea: jsonb would reorder keys).
CREATE TABLE sheetsync.requests (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES sheetsync.runs (run_id),
    idempotency_key text NOT NULL,
    operation text NOT NULL,
    body bytea NOT NULL,
    items_json text NOT NULL,
    outcome text CHECK (outcome IN ('applied', 'failed', 'skipped')),
    response_json text
);
CREATE INDEX requests_unsettled ON sheetsync.requests (run_id) WHERE outcome IS NULL;
CREATE INDEX requests_by_run_operation ON sheetsync.requests (run_id, operation);

CREATE TABLE sheetsync.run_rows (
    run_id text NOT NULL REFERENCES sheetsync.runs (run_id),
    seq integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('change', 'pulled')),
    sku text NOT NULL,
    "row" integer NOT NULL,
    field text NOT NULL,
    location text NOT NULL,
    from_kind text CHECK (from_kind IN ('qty', 'money', 'text')),
    from_value text,
    to_kind text CHECK (to_kind IN ('qty', 'money', 'text')),
    to_value text,
    status text CHECK (status IN ('planned', 'applied', 'failed', 'skipped')),
    error text,
    note text,
    created text CHECK (created IN ('product', 'variant')),
    product text NOT NULL,
    CHECK ((from_kind IS NULL) = (from_value IS NULL)),
    CHECK ((to_kind IS NULL) = (to_value IS NULL)),
    PRIMARY KEY (run_id, seq)
);
