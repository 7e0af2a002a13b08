-- Membership: tiers by growth value, an append-only points ledger over lots,
-- two-step spends (holds), and the member's tier history.

ALTER TABLE members ADD COLUMN growth BIGINT NOT NULL DEFAULT 0;
-- Points owed back after a refund reversed more than the member still had;
-- paid from the next awards before they become spendable.
ALTER TABLE members ADD COLUMN points_debt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN tier_since BIGINT NOT NULL DEFAULT 0;
-- Paid membership (e.g. a yearly plus card): its end, or NULL.
ALTER TABLE members ADD COLUMN paid_until BIGINT;
ALTER TABLE members ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';

CREATE TABLE tiers (
    code                TEXT PRIMARY KEY,
    name_zh             TEXT NOT NULL,
    name_en             TEXT NOT NULL,
    rank                BIGINT NOT NULL UNIQUE,
    -- Growth that earns the tier at once.
    growth_min          BIGINT NOT NULL,
    -- Growth to earn within one review period to keep it (else one tier down).
    retain_growth       BIGINT NOT NULL,
    -- Points multiplier in percent (100 = 1x).
    points_pct          BIGINT NOT NULL DEFAULT 100
);
INSERT INTO tiers (code, name_zh, name_en, rank, growth_min, retain_growth, points_pct) VALUES
    ('regular', '普通会员', 'Regular', 0, 0, 0, 100),
    ('silver', '银卡会员', 'Silver', 1, 7000, 2000, 110),
    ('gold', '金卡会员', 'Gold', 2, 15000, 5000, 125),
    ('diamond', '钻石会员', 'Diamond', 3, 40000, 12000, 150);

-- Growth value: earned from spending and actions, never spent.
CREATE TABLE growth_ledger (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    amount              BIGINT NOT NULL,
    source              TEXT NOT NULL,
    -- Unique per fact: an award for the same fact is applied once.
    key                 TEXT NOT NULL UNIQUE,
    at                  BIGINT NOT NULL
);
CREATE INDEX growth_ledger_member ON growth_ledger(member_id, at);

CREATE TABLE tier_changes (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    from_tier           TEXT NOT NULL,
    to_tier             TEXT NOT NULL,
    -- upgrade | retention_downgrade | paid | staff | import
    reason              TEXT NOT NULL,
    at                  BIGINT NOT NULL
);
CREATE INDEX tier_changes_member ON tier_changes(member_id, at);

-- A lot is one award: spends take from the lots nearest expiry first.
-- remaining = amount - spent - held - expired - reversed (never negative).
CREATE TABLE points_lots (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    amount              BIGINT NOT NULL,
    remaining           BIGINT NOT NULL,
    source              TEXT NOT NULL,
    reference           TEXT,
    earned_at           BIGINT NOT NULL,
    -- Not spendable before (points of an order stay frozen through its return window).
    unlock_at           BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    CHECK (remaining >= 0 AND remaining <= amount)
);
CREATE INDEX points_lots_member ON points_lots(member_id, expires_at);
CREATE INDEX points_lots_expiring ON points_lots(expires_at, remaining);
CREATE INDEX points_lots_reference ON points_lots(reference);

-- Append-only. The member's total is the sum of amount; each row says why.
-- kind: award | spend | expire | reverse | refund | adjust
CREATE TABLE points_ledger (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    kind                TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    lot_id              TEXT REFERENCES points_lots(id),
    hold_id             TEXT,
    reference           TEXT,
    reason              TEXT,
    actor               TEXT,
    at                  BIGINT NOT NULL
);
CREATE INDEX points_ledger_member ON points_ledger(member_id, at);

-- A two-step spend: points taken out of their lots (held) until the spend is
-- consumed (checkout paid, redemption done) or released (cancelled).
CREATE TABLE points_holds (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    -- Idempotency key of the spend, unique per member.
    key                 TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    purpose             TEXT NOT NULL,
    -- held | consumed | released
    status              TEXT NOT NULL,
    -- Points given back after consumption (refunds), at most amount.
    refunded            BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    settled_at          BIGINT,
    UNIQUE (member_id, key)
);

-- Which lots a hold took its points from.
CREATE TABLE points_hold_lots (
    hold_id             TEXT NOT NULL REFERENCES points_holds(id),
    lot_id              TEXT NOT NULL REFERENCES points_lots(id),
    amount              BIGINT NOT NULL,
    refunded            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hold_id, lot_id)
);

-- Awards applied once per fact (order paid, device bound, review...).
CREATE TABLE points_awards (
    key                 TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    lot_id              TEXT REFERENCES points_lots(id),
    amount              BIGINT NOT NULL,
    -- Points of this award already reversed by refunds.
    reversed            BIGINT NOT NULL DEFAULT 0,
    at                  BIGINT NOT NULL
);

-- Every other keyed points operation (award reversals, spend refunds, staff
-- adjustments), so a retried request applies once.
CREATE TABLE points_ops (
    key                 TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    kind                TEXT NOT NULL,
    amount              BIGINT NOT NULL,
    at                  BIGINT NOT NULL
);

-- What earns points and growth. trigger 'spend': `points` per yuan spent in
-- the category `subject` ('*' for any); trigger 'action': `points` once per
-- fact of the action `subject` (registration, device_binding, ...).
-- campaign_pct multiplies within [starts_at, ends_at) when set.
CREATE TABLE earn_rules (
    id                  TEXT PRIMARY KEY,
    trigger             TEXT NOT NULL,
    subject             TEXT NOT NULL,
    points              BIGINT NOT NULL,
    growth              BIGINT NOT NULL,
    campaign_pct        BIGINT NOT NULL DEFAULT 100,
    starts_at           BIGINT,
    ends_at             BIGINT,
    UNIQUE (trigger, subject)
);
INSERT INTO earn_rules (id, trigger, subject, points, growth) VALUES
    ('spend-any', 'spend', '*', 1, 1),
    ('action-registration', 'action', 'registration', 100, 10),
    ('action-device_binding', 'action', 'device_binding', 200, 20),
    ('action-warranty_activation', 'action', 'warranty_activation', 100, 10),
    ('action-review', 'action', 'review', 20, 5),
    ('action-birthday', 'action', 'birthday', 500, 0);

-- What each tier entitles a member to. kind: member_price (value = percent
-- of list price paid), warranty_extension (value = months, once per
-- membership year), birthday_offer (value = fen off an order in the birthday month),
-- priority_service (tickets jump the queue), free_shipping.
CREATE TABLE tier_benefits (
    tier                TEXT NOT NULL REFERENCES tiers(code),
    kind                TEXT NOT NULL,
    value               BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tier, kind)
);
INSERT INTO tier_benefits (tier, kind, value) VALUES
    ('silver', 'member_price', 98),
    ('silver', 'birthday_offer', 2000),
    ('gold', 'member_price', 95),
    ('gold', 'birthday_offer', 5000),
    ('gold', 'free_shipping', 0),
    ('gold', 'warranty_extension', 6),
    ('diamond', 'member_price', 92),
    ('diamond', 'birthday_offer', 10000),
    ('diamond', 'free_shipping', 0),
    ('diamond', 'warranty_extension', 12),
    ('diamond', 'priority_service', 0);

-- A benefit issued to a member for a period (e.g. the 2027 warranty
-- extension), used once. UNIQUE makes issuing idempotent.
CREATE TABLE benefit_grants (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    kind                TEXT NOT NULL,
    period              TEXT NOT NULL,
    value               BIGINT NOT NULL,
    -- tier | mall | import | staff
    origin              TEXT NOT NULL,
    granted_at          BIGINT NOT NULL,
    used_at             BIGINT,
    -- What it was used on: an order, a service tag, a till receipt.
    used_for            TEXT,
    UNIQUE (member_id, kind, period)
);
CREATE INDEX benefit_grants_member ON benefit_grants(member_id, granted_at);

-- The points mall. kind: product (shipped), coupon (an amount off the next
-- order, issued as a benefit grant), warranty_extension (months on a
-- device). stock NULL = unlimited.
CREATE TABLE mall_items (
    id                  TEXT PRIMARY KEY,
    kind                TEXT NOT NULL,
    name_zh             TEXT NOT NULL,
    name_en             TEXT NOT NULL,
    points              BIGINT NOT NULL,
    stock               BIGINT,
    per_member_limit    BIGINT,
    min_tier_rank       BIGINT NOT NULL DEFAULT 0,
    -- product id, coupon amount in fen, or warranty months
    value               TEXT NOT NULL DEFAULT '',
    starts_at           BIGINT,
    ends_at             BIGINT,
    created_at          BIGINT NOT NULL,
    CHECK (stock IS NULL OR stock >= 0)
);

CREATE TABLE mall_redemptions (
    id                  TEXT PRIMARY KEY,
    member_id           TEXT NOT NULL REFERENCES members(id),
    item_id             TEXT NOT NULL REFERENCES mall_items(id),
    key                 TEXT NOT NULL,
    points              BIGINT NOT NULL,
    -- to_ship | issued | to_apply (a warranty extension waiting for its device)
    status              TEXT NOT NULL,
    -- service tag for a warranty extension
    target              TEXT,
    created_at          BIGINT NOT NULL,
    UNIQUE (member_id, key)
);
CREATE INDEX mall_redemptions_item ON mall_redemptions(item_id, member_id);

-- Staff merges of two member records (never automatic).
CREATE TABLE member_merges (
    id                  TEXT PRIMARY KEY,
    survivor_id         TEXT NOT NULL REFERENCES members(id),
    merged_id           TEXT NOT NULL REFERENCES members(id),
    actor               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    at                  BIGINT NOT NULL
);
ALTER TABLE members ADD COLUMN merged_into TEXT REFERENCES members(id);
