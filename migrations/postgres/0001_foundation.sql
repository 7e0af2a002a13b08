-- Foundation: team access, audit, idempotency, durable jobs.
-- Ids are UUIDv7 text; times are microseconds since the Unix epoch (UTC).
-- No BOOLEAN columns (the portable driver cannot read them from SQLite):
-- a flag is the time it was set, NULL when unset.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    store_id        TEXT,
    reseller_id     TEXT,
    locale          TEXT NOT NULL DEFAULT 'zh',
    disabled_at     BIGINT,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT,
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT
);

-- Only a hash of the session id is stored: a leaked table grants no sessions.
CREATE TABLE sessions (
    id_hash         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ip              TEXT,
    user_agent      TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);

-- Failed sign-ins per client address, in fixed windows, for throttling across nodes.
CREATE TABLE login_failures (
    ip              TEXT NOT NULL,
    window_start    BIGINT NOT NULL,
    failures        BIGINT NOT NULL,
    PRIMARY KEY (ip, window_start)
);

CREATE TABLE audit_log (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT,
    actor_label     TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT,
    detail          TEXT NOT NULL DEFAULT '{}',
    ip              TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_target ON audit_log(target_kind, target_id);

-- A stored response per (scope, key): a retried write returns the first answer.
CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response        TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Durable jobs and the outbox: delayed work and everything that leaves the process.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    run_at          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    last_error      TEXT,
    locked_by       TEXT,
    locked_until    BIGINT,
    dedupe_key      TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX jobs_due ON jobs(state, run_at);
CREATE INDEX jobs_kind ON jobs(kind, state);

-- Recurring work: whichever node advances next_run_at first enqueues the run.
CREATE TABLE schedules (
    name            TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    every_secs      BIGINT NOT NULL,
    next_run_at     BIGINT NOT NULL,
    last_run_at     BIGINT
);

-- Values shared by all nodes (generated keys, counters).
CREATE TABLE settings (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
