-- Commerce: the catalog grows SKUs, configure-to-order options, bundles and
-- member prices; stock is kept per location with reservations; carts,
-- addresses, orders with their transitions, payments and refunds are rows.
-- Promotions (coupons, discounts, flash sales) live in their own migration.

-- Products: kind is device | accessory | service | bundle. A configurable
-- product has option groups; a service product grants cover on payment.
ALTER TABLE products ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- JSON array of image URLs, first is the cover.
ALTER TABLE products ADD COLUMN images TEXT NOT NULL DEFAULT '[]';
-- JSON object of filterable attributes ({"screen": "14", "use": "gaming"}).
ALTER TABLE products ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
-- Only members (of at least min_tier, when set) may buy it.
ALTER TABLE products ADD COLUMN member_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN min_tier TEXT;
-- Service products: warranty_extension | onsite_upgrade, and the months of cover.
ALTER TABLE products ADD COLUMN service_kind TEXT;
ALTER TABLE products ADD COLUMN service_months BIGINT;
ALTER TABLE products ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

-- The unit that is priced and stocked. Every product has at least one SKU;
-- a configurable product's SKU is its base model.
CREATE TABLE skus (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products(id),
    code            TEXT NOT NULL UNIQUE,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    attributes      TEXT NOT NULL DEFAULT '{}',
    price_fen       BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    position        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (price_fen >= 0)
);
CREATE INDEX skus_product ON skus(product_id, position);

-- A tier's own price for a SKU; otherwise the tier's member-price percent applies.
CREATE TABLE sku_tier_prices (
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    tier            TEXT NOT NULL,
    price_fen       BIGINT NOT NULL,
    PRIMARY KEY (sku_id, tier),
    CHECK (price_fen >= 0)
);

-- Configure-to-order: a base model plus option groups (CPU, memory, ...).
CREATE TABLE option_groups (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products(id),
    code            TEXT NOT NULL,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    required        BIGINT NOT NULL DEFAULT 1,
    position        BIGINT NOT NULL DEFAULT 0,
    UNIQUE (product_id, code)
);

-- Each option has a price delta and, when it is a part, the SKU whose stock
-- it draws on.
CREATE TABLE product_options (
    id              TEXT PRIMARY KEY,
    group_id        TEXT NOT NULL REFERENCES option_groups(id),
    code            TEXT NOT NULL,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    price_delta_fen BIGINT NOT NULL DEFAULT 0,
    component_sku_id TEXT REFERENCES skus(id),
    is_default      BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'active',
    position        BIGINT NOT NULL DEFAULT 0,
    UNIQUE (group_id, code)
);

-- Compatibility: option `option_id` requires or excludes `other_option_id`.
CREATE TABLE option_rules (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products(id),
    option_id       TEXT NOT NULL REFERENCES product_options(id),
    kind            TEXT NOT NULL,
    other_option_id TEXT NOT NULL REFERENCES product_options(id),
    message         TEXT NOT NULL DEFAULT '',
    CHECK (kind IN ('requires', 'excludes'))
);
CREATE INDEX option_rules_product ON option_rules(product_id);

-- Kits: a bundle SKU is made of other SKUs; its stock is theirs.
CREATE TABLE bundle_items (
    bundle_sku_id   TEXT NOT NULL REFERENCES skus(id),
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    quantity        BIGINT NOT NULL,
    PRIMARY KEY (bundle_sku_id, sku_id),
    CHECK (quantity > 0)
);

-- Where stock is: warehouses and offline stores.
CREATE TABLE stock_locations (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    store_id        TEXT REFERENCES stores(id),
    -- Online orders draw on it (in priority order, lowest first).
    ships_online    BIGINT NOT NULL DEFAULT 1,
    priority        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    CHECK (kind IN ('warehouse', 'store'))
);

-- sellable = on_hand - reserved; the checks make overselling impossible.
CREATE TABLE stock_levels (
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    location_id     TEXT NOT NULL REFERENCES stock_locations(id),
    on_hand         BIGINT NOT NULL DEFAULT 0,
    reserved        BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (sku_id, location_id),
    CHECK (reserved >= 0 AND on_hand >= reserved)
);

-- One row per reservation an order holds: reserved on placing, committed on
-- payment, released on timeout or cancellation, returned on refund.
CREATE TABLE stock_reservations (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    line_id         TEXT NOT NULL REFERENCES order_lines(id),
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    location_id     TEXT NOT NULL REFERENCES stock_locations(id),
    quantity        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT,
    CHECK (quantity > 0),
    CHECK (status IN ('reserved', 'committed', 'released', 'returned'))
);
CREATE INDEX stock_reservations_order ON stock_reservations(order_id);

-- Every change of on hand (receipts, counts, commits, returns), audited.
CREATE TABLE stock_movements (
    id              TEXT PRIMARY KEY,
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    location_id     TEXT NOT NULL REFERENCES stock_locations(id),
    delta           BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    reference       TEXT,
    actor           TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX stock_movements_sku ON stock_movements(sku_id, at);

-- A customer's cart: one line per SKU and option set.
CREATE TABLE cart_lines (
    id              TEXT PRIMARY KEY,
    profile_id      TEXT NOT NULL,
    sku_id          TEXT NOT NULL REFERENCES skus(id),
    -- JSON array of option ids, sorted.
    options         TEXT NOT NULL DEFAULT '[]',
    quantity        BIGINT NOT NULL,
    added_at        BIGINT NOT NULL,
    UNIQUE (profile_id, sku_id, options),
    CHECK (quantity > 0)
);

CREATE TABLE addresses (
    id              TEXT PRIMARY KEY,
    profile_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    phone           TEXT NOT NULL,
    region          TEXT NOT NULL,
    line            TEXT NOT NULL,
    postcode        TEXT,
    is_default      BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX addresses_profile ON addresses(profile_id);

-- Orders: status follows the state machine in commerce::orders.
ALTER TABLE orders ADD COLUMN profile_id TEXT;
-- The customer's idempotency key for the checkout that placed it.
ALTER TABLE orders ADD COLUMN checkout_key TEXT;
ALTER TABLE orders ADD COLUMN list_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN discount_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refunded_fen BIGINT NOT NULL DEFAULT 0;
-- Points the payment earned (reversed in proportion by refunds).
ALTER TABLE orders ADD COLUMN points_earned BIGINT NOT NULL DEFAULT 0;
-- A benefit grant (birthday offer) used by the order.
ALTER TABLE orders ADD COLUMN grant_id TEXT;
-- The price explanation, line by line (JSON).
ALTER TABLE orders ADD COLUMN pricing TEXT NOT NULL DEFAULT '{}';
ALTER TABLE orders ADD COLUMN address TEXT;
ALTER TABLE orders ADD COLUMN invoice TEXT;
ALTER TABLE orders ADD COLUMN remark TEXT;
ALTER TABLE orders ADD COLUMN expires_at BIGINT;
ALTER TABLE orders ADD COLUMN shipped_at BIGINT;
ALTER TABLE orders ADD COLUMN delivered_at BIGINT;
ALTER TABLE orders ADD COLUMN completed_at BIGINT;
ALTER TABLE orders ADD COLUMN cancelled_at BIGINT;
ALTER TABLE orders ADD COLUMN carrier TEXT;
ALTER TABLE orders ADD COLUMN tracking_no TEXT;
-- Attribution: campaign and QR scene, first and last touch (JSON).
ALTER TABLE orders ADD COLUMN campaign TEXT;
ALTER TABLE orders ADD COLUMN scene TEXT;
ALTER TABLE orders ADD COLUMN first_touch TEXT;
ALTER TABLE orders ADD COLUMN last_touch TEXT;
CREATE UNIQUE INDEX orders_checkout ON orders(profile_id, checkout_key);
CREATE INDEX orders_profile ON orders(profile_id, placed_at);
CREATE INDEX orders_status ON orders(status, placed_at);

ALTER TABLE order_lines ADD COLUMN sku_id TEXT;
ALTER TABLE order_lines ADD COLUMN title TEXT NOT NULL DEFAULT '';
-- Chosen options (JSON array of {group, option, name, delta}).
ALTER TABLE order_lines ADD COLUMN options TEXT NOT NULL DEFAULT '[]';
ALTER TABLE order_lines ADD COLUMN list_unit_fen BIGINT NOT NULL DEFAULT 0;
-- Discounts, points and the amount paid allocated to this line (refunds use it).
ALTER TABLE order_lines ADD COLUMN discount_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN points_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN paid_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN refunded_quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN refunded_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN flash_sale_id TEXT;
-- Service products: the device the cover is for.
ALTER TABLE order_lines ADD COLUMN service_tag TEXT;

-- Every transition of every order, with who and why.
CREATE TABLE order_transitions (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    note            TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX order_transitions_order ON order_transitions(order_id, at);

-- Staff notes on an order.
CREATE TABLE order_notes (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    author          TEXT NOT NULL,
    body            TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX order_notes_order ON order_notes(order_id, at);

-- One payment attempt per provider request; out_trade_no is what the
-- provider knows the order by.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    provider        TEXT NOT NULL,
    out_trade_no    TEXT NOT NULL UNIQUE,
    amount_fen      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    prepay_id       TEXT,
    transaction_id  TEXT,
    payer           TEXT,
    created_at      BIGINT NOT NULL,
    paid_at         BIGINT,
    CHECK (status IN ('created', 'succeeded', 'closed', 'failed'))
);
CREATE INDEX payments_order ON payments(order_id);
CREATE INDEX payments_open ON payments(status, created_at);

-- Notifications already processed (WeChat retries; several nodes receive them).
CREATE TABLE payment_notifications (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    reference       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);

-- Refunds: requested by the customer or staff, approved by staff, sent to
-- the provider, succeeded on its notification (or a query).
CREATE TABLE refunds (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    out_refund_no   TEXT NOT NULL UNIQUE,
    -- The payment the money goes back through.
    payment_id      TEXT REFERENCES payments(id),
    amount_fen      BIGINT NOT NULL,
    -- JSON array of {line_id, quantity, amount_fen}.
    lines           TEXT NOT NULL DEFAULT '[]',
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    decided_by      TEXT,
    provider_refund_id TEXT,
    -- The order status to return to when the request is rejected.
    order_status_before TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    succeeded_at    BIGINT,
    CHECK (amount_fen > 0),
    CHECK (status IN ('requested', 'processing', 'succeeded', 'rejected', 'failed'))
);
CREATE INDEX refunds_order ON refunds(order_id);
CREATE INDEX refunds_status ON refunds(status, created_at);
