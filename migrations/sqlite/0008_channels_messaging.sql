-- WeChat channels, second part: followers as profiles, outgoing messages
-- through the outbox, subscription consent, and access tokens shared by
-- every node.

ALTER TABLE followers ADD COLUMN profile_id TEXT REFERENCES profiles(id);
CREATE INDEX followers_profile ON followers(profile_id);

-- Every message Cove sends (or would send, in sandbox mode) through WeChat.
-- `client_msg_id` names the fact that caused the message: one fact, one row.
CREATE TABLE wechat_messages (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    -- subscribe | template | wecom_text | wecom_welcome
    kind            TEXT NOT NULL,
    -- openid (subscribe, template) or WeCom external userid
    recipient       TEXT NOT NULL,
    profile_id      TEXT REFERENCES profiles(id),
    template_id     TEXT,
    -- JSON: data, page, url, text, welcome_code, sender
    payload         TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL UNIQUE,
    -- queued | sent | sandboxed | failed | skipped_no_consent
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    -- 1 when a one-time subscription grant was spent on this message
    grant_used      BIGINT NOT NULL DEFAULT 0,
    -- Past this instant the message is no longer sent (WeCom welcome codes live 20 s).
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX wechat_messages_created ON wechat_messages(created_at);
CREATE INDEX wechat_messages_status ON wechat_messages(status, created_at);
CREATE INDEX wechat_messages_profile ON wechat_messages(profile_id);

-- Consent to subscription messages, per (account, openid, template). WeChat's
-- one-time subscriptions are counted: each accept allows one send.
CREATE TABLE subscription_grants (
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    open_id         TEXT NOT NULL,
    template_id     TEXT NOT NULL,
    profile_id      TEXT REFERENCES profiles(id),
    remaining       BIGINT NOT NULL DEFAULT 0,
    -- Set while the person keeps "always allow" (long-term subscription).
    long_term_at    BIGINT,
    -- Set when the person last refused or banned the template.
    rejected_at     BIGINT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, open_id, template_id)
);

-- Each reported `wx.requestSubscribeMessage` result once, so a replayed
-- report never grants a second send.
CREATE TABLE subscription_reports (
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    report_key      TEXT NOT NULL,
    open_id         TEXT NOT NULL,
    results         TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, report_key)
);

-- Access tokens shared by every node, sealed with the vault key; the lock
-- columns make one node refresh while the others wait and reuse its token.
CREATE TABLE wechat_tokens (
    key             TEXT PRIMARY KEY,
    token_sealed    TEXT,
    expires_at      BIGINT,
    locked_until    BIGINT
);

-- WeCom "contact me" ways: the `state` a customer brings when adding a
-- salesperson attributes them to that salesperson, store and campaign.
CREATE TABLE wecom_contact_ways (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    state           TEXT NOT NULL,
    name            TEXT NOT NULL,
    -- The salesperson's WeCom userid, and their Cove user when they have one.
    wecom_user_id   TEXT NOT NULL,
    staff_id        TEXT REFERENCES users(id),
    store_id        TEXT REFERENCES stores(id),
    campaign        TEXT,
    welcome_text    TEXT,
    -- From WeCom's add_contact_way (absent in sandbox mode).
    config_id       TEXT,
    qr_code         TEXT,
    adds            BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    UNIQUE (account_id, state)
);

-- Salesperson–customer relationships as they stand now.
CREATE TABLE wecom_contacts (
    account_id        TEXT NOT NULL REFERENCES channel_accounts(id),
    external_user_id  TEXT NOT NULL,
    wecom_user_id     TEXT NOT NULL,
    profile_id        TEXT REFERENCES profiles(id),
    state             TEXT,
    contact_way_id    TEXT REFERENCES wecom_contact_ways(id),
    staff_id          TEXT REFERENCES users(id),
    store_id          TEXT REFERENCES stores(id),
    campaign          TEXT,
    added_at          BIGINT NOT NULL,
    -- Set when the relationship ended; removed_by: staff | customer | transfer
    removed_at        BIGINT,
    removed_by        TEXT,
    last_event_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, external_user_id, wecom_user_id)
);
CREATE INDEX wecom_contacts_profile ON wecom_contacts(profile_id);
CREATE INDEX wecom_contacts_staff ON wecom_contacts(wecom_user_id);

-- Their history: started, transferred, ended (and edited), one row per callback.
CREATE TABLE wecom_relationship_events (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES channel_accounts(id),
    inbound_id        TEXT NOT NULL UNIQUE REFERENCES wechat_inbound(id),
    external_user_id  TEXT NOT NULL,
    wecom_user_id     TEXT NOT NULL,
    profile_id        TEXT REFERENCES profiles(id),
    -- started | transferred | ended | edited | transfer_failed
    change            TEXT NOT NULL,
    -- staff | customer | transfer, for ended; the previous salesperson, for transferred
    detail            TEXT,
    at                BIGINT NOT NULL
);
CREATE INDEX wecom_relationship_events_contact ON wecom_relationship_events(account_id, external_user_id, at);

-- Customer group membership (community engagement).
CREATE TABLE wecom_group_members (
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    chat_id         TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    profile_id      TEXT REFERENCES profiles(id),
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,
    PRIMARY KEY (account_id, chat_id, member_id)
);
