-- Audience: event sources with write keys, profiles with dense ordinals, the
-- identity graph, its conflicts and merges, and every accepted event.
--
-- Profile ordinals (dense integers for the bitmap engine) come from the
-- `counters` row 'profile_ordinal' on SQLite, where the single writer makes a
-- counter row free of contention; PostgreSQL uses the sequence
-- profile_ordinal_seq instead, so that concurrent ingestion does not queue on
-- (or deadlock around) one counter row. Both allocate inside the ingesting
-- transaction.

CREATE TABLE sources (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    -- mini_program | h5 | service_account | wecom | offline_pos | server
    kind                TEXT NOT NULL,
    write_key_hash      TEXT NOT NULL UNIQUE,
    write_key_prefix    TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    disabled_at         BIGINT
);

CREATE TABLE counters (
    name                TEXT PRIMARY KEY,
    value               BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('profile_ordinal', 0);

CREATE TABLE profiles (
    id                  TEXT PRIMARY KEY,
    ordinal             BIGINT NOT NULL UNIQUE,
    -- Set when this profile was merged into another; always points at a
    -- surviving profile (merges repoint earlier losers in the same step).
    merged_into         TEXT REFERENCES profiles(id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    first_seen_at       BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    traits              TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX profiles_merged_into ON profiles(merged_into);
CREATE INDEX profiles_last_seen ON profiles(last_seen_at);

-- One row per typed identifier; `type` is the identifier type key, e.g.
-- user_id, phone, unionid, openid:wx123 (openids are per app).
CREATE TABLE identities (
    type                TEXT NOT NULL,
    value               TEXT NOT NULL,
    profile_id          TEXT NOT NULL REFERENCES profiles(id),
    source_id           TEXT REFERENCES sources(id),
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (type, value)
);
CREATE INDEX identities_profile ON identities(profile_id);

-- An event tied two profiles that each hold a registered identity: they were
-- not merged; a person reviews the pair.
CREATE TABLE identity_conflicts (
    id                  TEXT PRIMARY KEY,
    profile_id          TEXT NOT NULL REFERENCES profiles(id),
    other_profile_id    TEXT NOT NULL REFERENCES profiles(id),
    identity_type       TEXT NOT NULL,
    identity_value      TEXT NOT NULL,
    source_id           TEXT REFERENCES sources(id),
    message_id          TEXT,
    occurrences         BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    resolved_at         BIGINT,
    UNIQUE (profile_id, other_profile_id, identity_type, identity_value)
);
CREATE INDEX identity_conflicts_open ON identity_conflicts(resolved_at, created_at);

-- Every automatic merge, for review and a later split.
CREATE TABLE profile_merges (
    id                  TEXT PRIMARY KEY,
    survivor_id         TEXT NOT NULL REFERENCES profiles(id),
    merged_id           TEXT NOT NULL REFERENCES profiles(id),
    source_id           TEXT REFERENCES sources(id),
    message_id          TEXT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX profile_merges_survivor ON profile_merges(survivor_id);

-- Every accepted Segment message. `profile_id` is the profile the event was
-- attributed to when it arrived; reads follow profiles.merged_into, so a merge
-- never rewrites events. `occurred_at` is the clock-skew-corrected timestamp.
CREATE TABLE raw_events (
    id                  TEXT PRIMARY KEY,
    source_id           TEXT NOT NULL REFERENCES sources(id),
    message_id          TEXT NOT NULL,
    type                TEXT NOT NULL,
    -- track: the event; page/screen: the name; otherwise NULL
    event               TEXT,
    profile_id          TEXT REFERENCES profiles(id),
    anonymous_id        TEXT,
    user_id             TEXT,
    group_id            TEXT,
    previous_id         TEXT,
    properties          TEXT NOT NULL DEFAULT '{}',
    traits              TEXT NOT NULL DEFAULT '{}',
    context             TEXT NOT NULL DEFAULT '{}',
    integrations        TEXT NOT NULL DEFAULT '{}',
    original_timestamp  BIGINT,
    sent_at             BIGINT,
    received_at         BIGINT NOT NULL,
    occurred_at         BIGINT NOT NULL,
    UNIQUE (source_id, message_id)
);
CREATE INDEX raw_events_profile ON raw_events(profile_id, occurred_at);
CREATE INDEX raw_events_occurred ON raw_events(occurred_at);
CREATE INDEX raw_events_name ON raw_events(event, occurred_at);
