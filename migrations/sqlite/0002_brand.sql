-- The brand's network and the base records every capability grows from:
-- stores and resellers, catalog, members, devices, orders and events.

CREATE TABLE resellers (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    city            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE stores (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    city            TEXT NOT NULL,
    reseller_id     TEXT REFERENCES resellers(id),
    created_at      BIGINT NOT NULL
);

CREATE TABLE categories (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    position        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE products (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    category_id     TEXT NOT NULL REFERENCES categories(id),
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    price_fen       BIGINT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX products_category ON products(category_id);

CREATE TABLE members (
    id              TEXT PRIMARY KEY,
    member_no       TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    phone           TEXT UNIQUE,
    city            TEXT NOT NULL,
    tier            TEXT NOT NULL,
    points          BIGINT NOT NULL DEFAULT 0,
    joined_channel  TEXT NOT NULL,
    store_id        TEXT REFERENCES stores(id),
    staff_id        TEXT REFERENCES users(id),
    birthday        TEXT,
    joined_at       BIGINT NOT NULL
);
CREATE INDEX members_joined ON members(joined_at);
CREATE INDEX members_store ON members(store_id);

CREATE TABLE devices (
    service_tag     TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products(id),
    shipped_at      BIGINT NOT NULL,
    warranty_ends_at BIGINT NOT NULL,
    member_id       TEXT REFERENCES members(id),
    bound_at        BIGINT
);
CREATE INDEX devices_member ON devices(member_id);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    order_no        TEXT NOT NULL UNIQUE,
    member_id       TEXT REFERENCES members(id),
    channel         TEXT NOT NULL,
    store_id        TEXT REFERENCES stores(id),
    reseller_id     TEXT REFERENCES resellers(id),
    staff_id        TEXT REFERENCES users(id),
    status          TEXT NOT NULL,
    total_fen       BIGINT NOT NULL,
    placed_at       BIGINT NOT NULL,
    paid_at         BIGINT
);
CREATE INDEX orders_member ON orders(member_id);
CREATE INDEX orders_placed ON orders(placed_at);
CREATE INDEX orders_store ON orders(store_id);

CREATE TABLE order_lines (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    product_id      TEXT NOT NULL REFERENCES products(id),
    quantity        BIGINT NOT NULL,
    unit_price_fen  BIGINT NOT NULL
);
CREATE INDEX order_lines_order ON order_lines(order_id);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    member_id       TEXT REFERENCES members(id),
    channel         TEXT NOT NULL,
    store_id        TEXT REFERENCES stores(id),
    properties      TEXT NOT NULL DEFAULT '{}',
    occurred_at     BIGINT NOT NULL
);
CREATE INDEX events_member ON events(member_id, occurred_at);
CREATE INDEX events_occurred ON events(occurred_at);
