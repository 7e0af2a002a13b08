-- Storefront customers. A customer is a profile of the identity graph; a
-- member is a profile that joined the membership (members.profile_id).
-- Sessions are bearer tokens for the Mini Program and H5 (and a cookie for
-- the server-rendered storefront); only a SHA-256 of the token is stored.

CREATE TABLE customer_sessions (
    id_hash         TEXT PRIMARY KEY,
    profile_id      TEXT NOT NULL REFERENCES profiles(id),
    -- mini_program | h5 | link (a tokenised link) | store
    channel         TEXT NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ended_at        BIGINT
);
CREATE INDEX customer_sessions_profile ON customer_sessions(profile_id);

ALTER TABLE members ADD COLUMN profile_id TEXT REFERENCES profiles(id);
CREATE UNIQUE INDEX members_profile ON members(profile_id);

-- One-time sign-in links (sent by a salesperson over WeCom, or printed by the
-- demo): the token is exchanged once for a session cookie.
CREATE TABLE customer_links (
    id_hash         TEXT PRIMARY KEY,
    profile_id      TEXT NOT NULL REFERENCES profiles(id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
