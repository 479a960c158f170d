/**
 * SQLite schema, versioned with `PRAGMA user_version`: migration N brings the file to version N.
 * Times are integer milliseconds since the epoch. Append new migrations; never edit a shipped one.
 */
export const sqliteMigrations: readonly string[] = [
  `
  CREATE TABLE events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    external_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    occurred_at INTEGER,
    record_type TEXT,
    record_id TEXT,
    payload TEXT NOT NULL,
    UNIQUE (source, dedupe_key)
  );
  CREATE INDEX events_received ON events (received_at);

  CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL REFERENCES events (id),
    route TEXT NOT NULL,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    order_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    hint TEXT,
    execution_id TEXT,
    request TEXT,
    merged_event TEXT,
    superseded_by TEXT,
    outcome TEXT,
    outcome_detail TEXT,
    outcome_checked_at INTEGER
  );
  CREATE INDEX deliveries_due ON deliveries (run_at, seq) WHERE state = 'queued';
  CREATE INDEX deliveries_record ON deliveries (route, record_key, order_at, seq) WHERE state IN ('queued', 'running');
  CREATE INDEX deliveries_lease ON deliveries (locked_until) WHERE state = 'running';
  CREATE INDEX deliveries_state ON deliveries (state, seq);
  CREATE INDEX deliveries_event ON deliveries (event_id);
  CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;

  CREATE TABLE attempts (
    delivery_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    hint TEXT,
    correlation_id TEXT,
    request TEXT,
    response TEXT,
    PRIMARY KEY (delivery_id, number)
  ) WITHOUT ROWID;
  `,
  // 2: deliveries per state, kept by triggers in the same transaction as every change, so stats()
  // (each /metrics scrape) reads six rows instead of counting the table: a GROUP BY over 1M rows
  // blocked the event loop ~0.2–0.9 s (docs/benchmarks.md). Costs one small UPDATE per row change.
  `
  CREATE TABLE delivery_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO delivery_counts (state, n)
    SELECT s.state, (SELECT count(*) FROM deliveries d WHERE d.state = s.state)
    FROM (SELECT 'queued' AS state UNION ALL SELECT 'running' UNION ALL SELECT 'succeeded'
          UNION ALL SELECT 'failed' UNION ALL SELECT 'dry_run' UNION ALL SELECT 'superseded') s;
  CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
    UPDATE delivery_counts SET n = n + 1 WHERE state = NEW.state;
  END;
  CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
  END;
  CREATE TRIGGER deliveries_count_update AFTER UPDATE OF state ON deliveries WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE delivery_counts SET n = n + 1 WHERE state = NEW.state;
  END;
  `,
  // 3: new deliveries are counted by the ingest that writes them, once per call, not by a trigger
  // per row: the trigger's UPDATE was about a fifth of the SQLite work of every webhook
  // (docs/benchmarks.md). Only SqliteWrites.ingest inserts deliveries.
  `
  DROP TRIGGER deliveries_count_insert;
  `
]
