-- Behaviour tags, computed traits and saved audiences.
--
-- A tag is defined by a rule (evaluated in SQL over raw_events and profile
-- traits), by manual assignment, or by CSV import. profile_tags holds who
-- carries it and how they got it; a rule recompute only adds and removes
-- rows of origin 'rule'. `computation` counts finished recomputes: the
-- tag.added / tag.removed events of one recompute are keyed by it, so a
-- retried recompute never emits twice.

CREATE TABLE tags (
    id                  TEXT PRIMARY KEY,
    key                 TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    -- rule | manual | import
    kind                TEXT NOT NULL,
    -- JSON rule for kind = 'rule'
    rule                TEXT,
    -- Event names (and '$identify' for trait conditions) whose arrival may
    -- change the rule's answer for a profile; space-separated.
    triggers            TEXT NOT NULL DEFAULT '',
    member_count        BIGINT NOT NULL DEFAULT 0,
    computation         BIGINT NOT NULL DEFAULT 0,
    last_computed_at    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE profile_tags (
    tag_id              TEXT NOT NULL REFERENCES tags(id),
    profile_id          TEXT NOT NULL REFERENCES profiles(id),
    since               BIGINT NOT NULL,
    -- rule | manual | import
    origin              TEXT NOT NULL,
    PRIMARY KEY (tag_id, profile_id)
);
CREATE INDEX profile_tags_profile ON profile_tags(profile_id);

-- Computed traits: definitions here, values per profile in profiles.computed
-- (a JSON object next to profiles.traits, read the same way by rules).
CREATE TABLE computed_traits (
    id                  TEXT PRIMARY KEY,
    key                 TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    definition          TEXT NOT NULL,
    last_computed_at    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
ALTER TABLE profiles ADD COLUMN computed TEXT NOT NULL DEFAULT '{}';

-- Saved audiences: an expression over tags and traits, evaluated by the
-- bitmap engine; audience_members is the membership of the last recompute.
CREATE TABLE audiences (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    description         TEXT NOT NULL DEFAULT '',
    -- The expression in canonical text form.
    expression          TEXT NOT NULL,
    -- Set when the audience is shown as a persona.
    persona_at          BIGINT,
    member_count        BIGINT NOT NULL DEFAULT 0,
    computation         BIGINT NOT NULL DEFAULT 0,
    last_computed_at    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE audience_members (
    audience_id         TEXT NOT NULL REFERENCES audiences(id),
    profile_id          TEXT NOT NULL REFERENCES profiles(id),
    since               BIGINT NOT NULL,
    PRIMARY KEY (audience_id, profile_id)
);
CREATE INDEX audience_members_profile ON audience_members(profile_id);
