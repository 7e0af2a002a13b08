-- On-site repair: field engineers with skills, territories and a working
-- calendar; appointments booked into fixed slots, dispatched, completed with
-- a report and rated once; every status change is a row.

CREATE TABLE field_engineers (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    -- Comma-separated codes, e.g. "laptop,desktop".
    skills TEXT NOT NULL,
    -- Comma-separated region/city codes, e.g. "SH,SZ".
    territories TEXT NOT NULL,
    timezone TEXT NOT NULL,
    -- ISO weekdays, 1 = Monday: "1,2,3,4,5".
    working_days TEXT NOT NULL,
    day_start_minute BIGINT NOT NULL,
    day_end_minute BIGINT NOT NULL,
    -- JSON list of local dates "YYYY-MM-DD" the engineer does not work.
    days_off TEXT NOT NULL DEFAULT '[]',
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE field_appointments (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('requested', 'scheduled', 'dispatched', 'en_route',
        'on_site', 'completed', 'cancelled', 'no_show')),
    profile_id TEXT NOT NULL,
    member_id TEXT,
    service_tag TEXT NOT NULL REFERENCES devices (service_tag),
    ticket_id TEXT REFERENCES tickets (id),
    territory TEXT NOT NULL,
    skill TEXT,
    address TEXT NOT NULL,
    engineer_id TEXT REFERENCES field_engineers (id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    -- Covered by an on-site entitlement (0) or a billable visit (1).
    billable BIGINT NOT NULL DEFAULT 0,
    -- SHA-256 of the customer's link token.
    token_hash TEXT NOT NULL UNIQUE,
    -- JSON {parts: [{part_number, qty, serial}], notes}.
    report TEXT,
    completed_at BIGINT,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    rating_comment TEXT,
    rated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);

-- One engineer is never booked twice at the same start; overlaps with the
-- travel buffer are refused under a lock on the engineer row.
CREATE UNIQUE INDEX field_appointments_engineer_slot ON field_appointments (engineer_id, starts_at)
    WHERE status NOT IN ('cancelled', 'no_show');
CREATE INDEX field_appointments_time ON field_appointments (starts_at);
CREATE INDEX field_appointments_profile ON field_appointments (profile_id, starts_at);

CREATE TABLE field_appointment_events (
    id TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES field_appointments (id),
    actor TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX field_appointment_events_appointment ON field_appointment_events (appointment_id, at);

CREATE TABLE field_appointment_numbers (
    id BIGINT PRIMARY KEY,
    next_value BIGINT NOT NULL
);

INSERT INTO field_appointment_numbers (id, next_value) VALUES (1, 200001);
