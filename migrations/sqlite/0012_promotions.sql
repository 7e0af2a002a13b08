-- Promotions: coupon templates and the coupons issued from them, automatic
-- discounts, flash sales with their own stock pool and per-person limits,
-- and what each order redeemed. Every counter that limits a promotion
-- (issued, claimed per person, budget spent, sold, bought per person) is
-- changed only by a guarded UPDATE, so concurrent checkouts cannot pass it.

-- Scopes: all | products | categories | tiers, with scope_values a JSON array
-- of product ids, category codes or tier codes.
CREATE TABLE coupon_templates (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL DEFAULT 0,
    percent         BIGINT NOT NULL DEFAULT 0,
    cap_fen         BIGINT,
    threshold_fen   BIGINT NOT NULL DEFAULT 0,
    scope           TEXT NOT NULL DEFAULT 'all',
    scope_values    TEXT NOT NULL DEFAULT '[]',
    -- Claims and issues happen within [starts_at, ends_at); a coupon is valid
    -- over that window, or for valid_days from its issue when set.
    starts_at       BIGINT NOT NULL,
    ends_at         BIGINT NOT NULL,
    valid_days      BIGINT,
    claimable       BIGINT NOT NULL DEFAULT 0,
    per_person_limit BIGINT NOT NULL DEFAULT 1,
    total_quantity  BIGINT,
    issued_count    BIGINT NOT NULL DEFAULT 0,
    budget_fen      BIGINT,
    spent_fen       BIGINT NOT NULL DEFAULT 0,
    stackable_with_promotions BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'active',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (kind IN ('amount_off', 'percent_off')),
    CHECK (scope IN ('all', 'products', 'categories', 'tiers')),
    CHECK (status IN ('active', 'paused', 'ended')),
    CHECK (total_quantity IS NULL OR issued_count <= total_quantity),
    CHECK (budget_fen IS NULL OR spent_fen <= budget_fen),
    CHECK (issued_count >= 0 AND spent_fen >= 0)
);

CREATE TABLE coupons (
    id              TEXT PRIMARY KEY,
    template_id     TEXT NOT NULL REFERENCES coupon_templates(id),
    profile_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    valid_from      BIGINT NOT NULL,
    valid_until     BIGINT NOT NULL,
    -- claim | staff:<user id>
    source          TEXT NOT NULL,
    order_id        TEXT,
    issued_at       BIGINT NOT NULL,
    locked_at       BIGINT,
    used_at         BIGINT,
    CHECK (status IN ('issued', 'locked', 'used', 'expired', 'void'))
);
CREATE INDEX coupons_profile ON coupons(profile_id, status);
CREATE INDEX coupons_template ON coupons(template_id, status);
CREATE INDEX coupons_order ON coupons(order_id);

-- Claims per person of a template, guarded against the per-person limit.
CREATE TABLE coupon_claims (
    template_id     TEXT NOT NULL REFERENCES coupon_templates(id),
    profile_id      TEXT NOT NULL,
    claimed         BIGINT NOT NULL,
    PRIMARY KEY (template_id, profile_id)
);

-- Automatic discounts. threshold_amount_off: rules is a JSON array of
-- {threshold_fen, off_fen} (the highest met applies; with every_threshold = 1 a single
-- rule applies once per multiple of its threshold). percent_off: percent,
-- capped at cap_fen.
CREATE TABLE promotions (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    rules           TEXT NOT NULL DEFAULT '[]',
    every_threshold BIGINT NOT NULL DEFAULT 0,
    percent         BIGINT NOT NULL DEFAULT 0,
    cap_fen         BIGINT,
    scope           TEXT NOT NULL DEFAULT 'all',
    scope_values    TEXT NOT NULL DEFAULT '[]',
    priority        BIGINT NOT NULL DEFAULT 0,
    is_exclusive    BIGINT NOT NULL DEFAULT 0,
    stackable_with_coupons BIGINT NOT NULL DEFAULT 1,
    budget_fen      BIGINT,
    spent_fen       BIGINT NOT NULL DEFAULT 0,
    starts_at       BIGINT NOT NULL,
    ends_at         BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (kind IN ('threshold_amount_off', 'percent_off')),
    CHECK (scope IN ('all', 'products', 'categories', 'tiers')),
    CHECK (status IN ('active', 'paused', 'ended')),
    CHECK (budget_fen IS NULL OR spent_fen <= budget_fen),
    CHECK (spent_fen >= 0)
);
CREATE INDEX promotions_live ON promotions(status, starts_at, ends_at);

CREATE TABLE flash_sales (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    starts_at       BIGINT NOT NULL,
    ends_at         BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (status IN ('active', 'paused', 'ended'))
);

-- A flash sale's own pool per SKU: sold never passes pool.
CREATE TABLE flash_sale_items (
    id              TEXT PRIMARY KEY,
    sale_id         TEXT NOT NULL REFERENCES flash_sales(id),
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    price_fen       BIGINT NOT NULL,
    pool            BIGINT NOT NULL,
    sold            BIGINT NOT NULL DEFAULT 0,
    per_person_limit BIGINT NOT NULL DEFAULT 1,
    UNIQUE (sale_id, sku_id),
    CHECK (price_fen >= 0 AND pool >= 0 AND per_person_limit > 0),
    CHECK (sold >= 0 AND sold <= pool)
);
CREATE INDEX flash_sale_items_sku ON flash_sale_items(sku_id);

-- Units each person holds of an item, guarded against the per-person limit.
CREATE TABLE flash_sale_buyers (
    item_id         TEXT NOT NULL REFERENCES flash_sale_items(id),
    profile_id      TEXT NOT NULL,
    bought          BIGINT NOT NULL,
    PRIMARY KEY (item_id, profile_id),
    CHECK (bought >= 0)
);

CREATE TABLE flash_sale_purchases (
    id              TEXT PRIMARY KEY,
    item_id         TEXT NOT NULL REFERENCES flash_sale_items(id),
    profile_id      TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    released_at     BIGINT,
    UNIQUE (item_id, order_id),
    CHECK (quantity > 0),
    CHECK (status IN ('reserved', 'released'))
);
CREATE INDEX flash_sale_purchases_order ON flash_sale_purchases(order_id);

-- What each order redeemed: kind flash_sale | promotion | coupon, reference
-- the sale, promotion or coupon id.
CREATE TABLE promotion_redemptions (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reference       TEXT NOT NULL,
    -- The coupon's template, for results per campaign.
    template_id     TEXT,
    amount_fen      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    released_at     BIGINT,
    UNIQUE (order_id, kind, reference),
    CHECK (kind IN ('flash_sale', 'promotion', 'coupon')),
    CHECK (status IN ('applied', 'released'))
);
CREATE INDEX promotion_redemptions_reference ON promotion_redemptions(reference, status);
CREATE INDEX promotion_redemptions_template ON promotion_redemptions(template_id, status);
