-- Tickets with SLAs: brand statuses over fixed kinds, teams of console users,
-- the conversation, the history of changes, SLA policies with a business
-- calendar, per-ticket timers and breach rows.

CREATE TABLE ticket_statuses (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    -- The fixed kinds drive the timers: pending pauses resolution, solved
    -- meets it, closed is final.
    kind TEXT NOT NULL CHECK (kind IN ('new', 'open', 'pending', 'solved', 'closed')),
    position BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO ticket_statuses (code, name_zh, name_en, kind, position, created_at, updated_at) VALUES
    ('new', '新建', 'New', 'new', 10, 0, 0),
    ('open', '处理中', 'Open', 'open', 20, 0, 0),
    ('waiting_customer', '等待客户', 'Waiting on customer', 'pending', 30, 0, 0),
    ('waiting_parts', '等待备件', 'Waiting on parts', 'pending', 40, 0, 0),
    ('solved', '已解决', 'Solved', 'solved', 50, 0, 0),
    ('closed', '已关闭', 'Closed', 'closed', 60, 0, 0);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- {"urgent": {"first_response": 30, "resolution": 240}, ...} in business minutes.
    targets TEXT NOT NULL,
    timezone TEXT NOT NULL,
    -- ISO weekdays, 1 = Monday: "1,2,3,4,5,6".
    working_days TEXT NOT NULL,
    day_start_minute BIGINT NOT NULL,
    day_end_minute BIGINT NOT NULL,
    -- JSON list of local dates "YYYY-MM-DD".
    holidays TEXT NOT NULL DEFAULT '[]',
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO sla_policies (id, code, name, targets, timezone, working_days, day_start_minute,
    day_end_minute, holidays, is_default, created_at, updated_at) VALUES
    ('default', 'standard', 'Standard',
     '{"urgent":{"first_response":30,"resolution":240},"high":{"first_response":60,"resolution":480},"normal":{"first_response":240,"resolution":1440},"low":{"first_response":480,"resolution":2880}}',
     'Asia/Shanghai', '1,2,3,4,5,6', 540, 1080, '[]', 1, 0, 0);

CREATE TABLE ticket_numbers (
    id BIGINT PRIMARY KEY,
    next_value BIGINT NOT NULL
);

INSERT INTO ticket_numbers (id, next_value) VALUES (1, 100001);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('pre_sales', 'after_sales')),
    subject TEXT NOT NULL,
    status TEXT NOT NULL REFERENCES ticket_statuses (code),
    status_kind TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    channel TEXT NOT NULL CHECK (channel IN ('storefront', 'wecom', 'staff', 'official_account')),
    profile_id TEXT NOT NULL,
    member_id TEXT,
    service_tag TEXT,
    order_id TEXT,
    team_id TEXT REFERENCES teams (id),
    assignee_id TEXT REFERENCES users (id),
    sla_policy_id TEXT REFERENCES sla_policies (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    first_responded_at BIGINT,
    solved_at BIGINT,
    closed_at BIGINT
);

CREATE INDEX tickets_profile ON tickets (profile_id, created_at);
CREATE INDEX tickets_status ON tickets (status_kind, created_at);
CREATE INDEX tickets_assignee ON tickets (assignee_id);

CREATE TABLE ticket_messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('customer', 'agent', 'system')),
    -- The console user or the customer's profile.
    author_id TEXT,
    body TEXT NOT NULL,
    internal BIGINT NOT NULL DEFAULT 0,
    -- JSON list of {name, url, size, content_type}.
    attachments TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
);

CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);

CREATE TABLE ticket_events (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

CREATE TABLE sla_timers (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    metric TEXT NOT NULL CHECK (metric IN ('first_response', 'resolution')),
    started_at BIGINT NOT NULL,
    target_minutes BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    paused_at BIGINT,
    -- Business minutes spent paused, added to the target.
    paused_total BIGINT NOT NULL DEFAULT 0,
    met_at BIGINT,
    breached_at BIGINT,
    UNIQUE (ticket_id, metric)
);

CREATE INDEX sla_timers_due ON sla_timers (due_at);

CREATE TABLE sla_breaches (
    id TEXT PRIMARY KEY,
    timer_id TEXT NOT NULL UNIQUE REFERENCES sla_timers (id),
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    metric TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    breached_at BIGINT NOT NULL
);
