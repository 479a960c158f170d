/**
 * PostgreSQL schema, versioned in `schema_migrations`: migration N brings the schema to version N.
 * Kept as TS strings so the build output carries them. Append new migrations; never edit a shipped one.
 *
 * Payload-like columns are `json`, not `jsonb`: `json` keeps the text as written (key order,
 * duplicate keys), so an event reads back exactly as the SQLite store returns it.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'events, deliveries, attempts',
    sql: `
    CREATE TABLE events (
      id text PRIMARY KEY,
      source text NOT NULL,
      dedupe_key text NOT NULL,
      external_id text NOT NULL,
      received_at timestamptz NOT NULL,
      occurred_at timestamptz,
      record_type text,
      record_id text,
      payload json NOT NULL,
      UNIQUE (source, dedupe_key)
    );
    CREATE INDEX events_received ON events (received_at);

    CREATE TABLE deliveries (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id text NOT NULL UNIQUE,
      event_id text NOT NULL REFERENCES events (id),
      route text NOT NULL,
      source text NOT NULL,
      record_key text NOT NULL,
      order_at timestamptz NOT NULL,
      state text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dry_run', 'superseded')),
      attempts integer NOT NULL DEFAULT 0,
      max_attempts integer NOT NULL,
      run_at timestamptz NOT NULL,
      locked_by text,
      locked_until timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      finished_at timestamptz,
      last_status integer,
      last_error text,
      hint text,
      execution_id text,
      request json,
      merged_event json,
      superseded_by text,
      outcome text,
      outcome_detail json,
      outcome_checked_at timestamptz
    );
    CREATE INDEX deliveries_due ON deliveries (run_at, seq) WHERE state = 'queued';
    CREATE INDEX deliveries_record ON deliveries (route, record_key, order_at, seq) WHERE state IN ('queued', 'running');
    CREATE INDEX deliveries_lease ON deliveries (locked_until) WHERE state = 'running';
    CREATE INDEX deliveries_state ON deliveries (state, seq);
    CREATE INDEX deliveries_event ON deliveries (event_id);
    CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;

    CREATE TABLE attempts (
      delivery_id text NOT NULL,
      number integer NOT NULL,
      started_at timestamptz NOT NULL,
      duration_ms integer NOT NULL,
      outcome text NOT NULL,
      status integer,
      error text,
      hint text,
      correlation_id text,
      request json,
      response text,
      PRIMARY KEY (delivery_id, number)
    );
    `
  },
  {
    version: 2,
    name: 'shared Genesys rate budget',
    sql: `
    CREATE TABLE rate_budget (
      name text PRIMARY KEY,
      tokens double precision NOT NULL,
      updated_at timestamptz NOT NULL,
      paused_until timestamptz,
      probing boolean NOT NULL DEFAULT false,
      probe_until timestamptz
    );
    `
  }
]
