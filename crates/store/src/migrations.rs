//! Schema migrations, applied in order at start inside one transaction each, recorded in
//! `schema_migrations`. Written in SQL that both SQLite and PostgreSQL accept.

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    secret_enc TEXT,
    base_url TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, name)
);
CREATE TABLE provider_nodes (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    base_url TEXT NOT NULL,
    auth TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE provider_models (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'chat',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);
CREATE TABLE provider_settings (
    provider TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    base_url TEXT,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
CREATE TABLE combos (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    strategy TEXT NOT NULL DEFAULT 'priority',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    models TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    last4 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT,
    request_count BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
CREATE TABLE request_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client_format TEXT,
    model TEXT,
    provider TEXT,
    connection_id TEXT,
    upstream_model TEXT,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    status INTEGER NOT NULL,
    latency_ms BIGINT NOT NULL,
    ttfb_ms BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    api_key_id TEXT REFERENCES api_keys(id) ON DELETE SET NULL,
    error TEXT
);
CREATE INDEX request_logs_ts ON request_logs (ts);
CREATE INDEX request_logs_request_id ON request_logs (request_id);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE runtime_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE request_logs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE combos ADD COLUMN weights TEXT NOT NULL DEFAULT '[]';
"#,
    ),
    (
        3,
        r#"
CREATE TABLE model_pricing (
    model TEXT PRIMARY KEY,
    input_per_m DOUBLE PRECISION NOT NULL,
    output_per_m DOUBLE PRECISION NOT NULL,
    cached_input_per_m DOUBLE PRECISION,
    reasoning_per_m DOUBLE PRECISION,
    source TEXT NOT NULL DEFAULT 'api',
    updated_at BIGINT NOT NULL
);
"#,
    ),
];
