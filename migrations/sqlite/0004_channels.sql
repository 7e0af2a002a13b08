-- WeChat channels: the brand's accounts, inbound callbacks, parametric QR
-- scenes and Official Account followers.

CREATE TABLE channel_accounts (
    id              TEXT PRIMARY KEY,
    -- official_account | mini_program | wecom
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    -- AppID, or CorpID for WeCom
    app_id          TEXT NOT NULL,
    -- Secrets are sealed with the vault key (never stored in clear).
    token_sealed    TEXT NOT NULL,
    aes_key_sealed  TEXT,
    secret_sealed   TEXT,
    -- Set: outgoing messages land in the console outbox instead of WeChat.
    sandbox_at      BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (kind, app_id)
);

-- Every accepted callback once: WeChat retries up to three times, and any
-- node may receive a retry, so the dedupe key is unique in the database.
CREATE TABLE wechat_inbound (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    dedupe_key      TEXT NOT NULL,
    msg_type        TEXT NOT NULL,
    event           TEXT,
    open_id         TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    processed_at    BIGINT,
    UNIQUE (account_id, dedupe_key)
);
CREATE INDEX wechat_inbound_received ON wechat_inbound(received_at);

-- What a parametric QR code's scene stands for: a store, a staff member, a campaign.
CREATE TABLE qr_scenes (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    scene           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    store_id        TEXT REFERENCES stores(id),
    staff_id        TEXT REFERENCES users(id),
    campaign        TEXT,
    scans           BIGINT NOT NULL DEFAULT 0,
    follows         BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    UNIQUE (account_id, scene)
);

-- Official Account followers; attribution is the first touch that made them follow.
CREATE TABLE followers (
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    open_id         TEXT NOT NULL,
    union_id        TEXT,
    scene           TEXT,
    store_id        TEXT REFERENCES stores(id),
    staff_id        TEXT REFERENCES users(id),
    campaign        TEXT,
    followed_at     BIGINT NOT NULL,
    unfollowed_at   BIGINT,
    last_event_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, open_id)
);
CREATE INDEX followers_store ON followers(store_id);
