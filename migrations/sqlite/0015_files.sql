-- Uploaded files kept in the database so every node serves them: the bytes
-- once per SHA-256, one row per upload with its name, owner and purpose.
-- Ticket messages name the files they carry (who may read an attachment),
-- and priority service as a member benefit on tickets and SLA policies.

CREATE TABLE file_blobs (
    sha256 TEXT PRIMARY KEY,
    content BLOB NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE files (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL REFERENCES file_blobs (sha256),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- product_image is public; ticket_attachment only for the ticket's customer and staff.
    purpose TEXT NOT NULL CHECK (purpose IN ('product_image', 'ticket_attachment')),
    -- Exactly one owner: a console user or a customer's profile.
    owner_user_id TEXT REFERENCES users (id),
    owner_profile_id TEXT,
    created_at BIGINT NOT NULL,
    CHECK ((owner_user_id IS NULL) <> (owner_profile_id IS NULL))
);

CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_owner_profile ON files (owner_profile_id, created_at);

CREATE TABLE ticket_files (
    file_id TEXT NOT NULL REFERENCES files (id),
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    message_id TEXT NOT NULL REFERENCES ticket_messages (id),
    internal BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (file_id, message_id)
);

CREATE INDEX ticket_files_ticket ON ticket_files (ticket_id);

-- Whether the customer's tier carried priority service when the ticket opened.
ALTER TABLE tickets ADD COLUMN priority_service BIGINT NOT NULL DEFAULT 0;

-- The policy tickets of priority-service members get instead of the default.
ALTER TABLE sla_policies ADD COLUMN for_priority_service BIGINT NOT NULL DEFAULT 0;
