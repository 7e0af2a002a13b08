-- Transactional notifications: which WeChat message a domain event sends,
-- and Official Account conversations that open and answer tickets.

-- One rule per event name. `channels` is a JSON list of message options in
-- the brand's order of preference; the first the person can be reached on
-- (and, for subscription messages, has consented to) is used.
CREATE TABLE notification_rules (
    id              TEXT PRIMARY KEY,
    event_name      TEXT NOT NULL UNIQUE,
    channels        TEXT NOT NULL,
    -- IANA zone in which `time` and `date` fields are written.
    time_zone       TEXT NOT NULL,
    enabled         BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- A follower writing to the Official Account: when they last wrote (WeChat
-- allows customer-service replies for 48 hours after that) and the ticket
-- their messages go to.
CREATE TABLE oa_conversations (
    account_id      TEXT NOT NULL REFERENCES channel_accounts(id),
    open_id         TEXT NOT NULL,
    profile_id      TEXT REFERENCES profiles(id),
    ticket_id       TEXT REFERENCES tickets(id),
    last_message_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, open_id)
);
CREATE INDEX oa_conversations_ticket ON oa_conversations(ticket_id);
