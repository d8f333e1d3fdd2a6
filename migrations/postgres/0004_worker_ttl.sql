-- sheetsync shared state, version 4: each worker's lease TTL on its row, written with its
-- heartbeat. `fleet status` then tells a live worker (heard from within its own TTL, not
-- stopping) from one that is not, and live workers prune the rows of workers long dead:
-- no heartbeat for 10 × that worker's TTL and no unexpired lease (leases expire a TTL
-- after the last renewal, which is the heartbeat's statement, so such a row can hold none).
-- Rows from before this version have no TTL; they are judged by the pruner's.

ALTER TABLE sheetsync.workers ADD COLUMN lease_ttl interval;
