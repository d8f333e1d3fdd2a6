-- sheetsync shared state, version 3: the fleet (SPEC §9).
-- `pairs`: what `fleet apply` loaded, one row per pair file: its name (the file name
-- without .toml), its scope (store, spreadsheet, tab: the lease's key), the file's text
-- with its ${VAR}s unresolved (secrets stay in each worker's environment) and that text's
-- SHA-256 so a worker reloads a pair whose file changed. `--prune` deletes a row; the
-- scope and its history stay.
-- `workers`: one row per `fleet run` process, its heartbeat on the database's clock.
-- `fires`: a scheduled pair's fire times, each claimed once across the fleet (INSERT … ON
-- CONFLICT DO NOTHING inside the claimer's fenced transaction) before its run starts.

CREATE TABLE sheetsync.pairs (
    name text PRIMARY KEY,
    scope_id bigint NOT NULL UNIQUE REFERENCES sheetsync.scopes (id),
    config_text text NOT NULL,
    config_sha256 text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('watch', 'schedule')),
    enabled boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sheetsync.workers (
    id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    stopping boolean NOT NULL DEFAULT false
);
CREATE INDEX workers_by_last_seen ON sheetsync.workers (last_seen);

CREATE TABLE sheetsync.fires (
    scope_id bigint NOT NULL REFERENCES sheetsync.scopes (id),
    fire_time timestamptz NOT NULL,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    run_id text,
    PRIMARY KEY (scope_id, fire_time)
);
