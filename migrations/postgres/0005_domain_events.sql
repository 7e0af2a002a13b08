-- Cove's own domain events (orders, points, bindings, tickets, follows) are
-- stored in raw_events under this built-in source. Its write key hash is not
-- a SHA-256 digest, so no write key can ever match it.
INSERT INTO sources (id, name, kind, write_key_hash, write_key_prefix, created_at)
VALUES ('cove', 'Cove', 'server', 'none:cove', '', 0);
