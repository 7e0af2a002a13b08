-- Service center: the device registry grows serials, sales channel and region;
-- entitlements, ownership bindings and warranty policies are rows.

ALTER TABLE devices ADD COLUMN serial TEXT;
ALTER TABLE devices ADD COLUMN sales_channel TEXT NOT NULL DEFAULT 'direct';
ALTER TABLE devices ADD COLUMN region TEXT NOT NULL DEFAULT 'CN';
-- When the owner activated the warranty online (NULL: not activated).
ALTER TABLE devices ADD COLUMN activated_at BIGINT;
ALTER TABLE devices ADD COLUMN imported_at BIGINT;
CREATE UNIQUE INDEX devices_serial ON devices(serial);
CREATE INDEX devices_product ON devices(product_id);

-- How a model's base warranty starts: from the ship date, or from online
-- activation within a window after shipping (late activations start at the
-- window's end, so waiting never lengthens the warranty).
CREATE TABLE warranty_policies (
    product_id          TEXT PRIMARY KEY REFERENCES products(id),
    base_months         BIGINT NOT NULL,
    service_level       TEXT NOT NULL,
    start_from          TEXT NOT NULL,
    activation_window_days BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CHECK (base_months > 0 AND activation_window_days >= 0)
);

-- One row per right to service: the factory warranty, extensions bought or
-- granted as member benefits, international and on-site coverage.
-- (service_tag, origin, reference) is unique so granting is idempotent.
CREATE TABLE device_entitlements (
    id                  TEXT PRIMARY KEY,
    service_tag         TEXT NOT NULL REFERENCES devices(service_tag),
    kind                TEXT NOT NULL,
    service_level       TEXT NOT NULL,
    starts_at           BIGINT NOT NULL,
    ends_at             BIGINT NOT NULL,
    origin              TEXT NOT NULL,
    reference           TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE UNIQUE INDEX device_entitlements_reference ON device_entitlements(service_tag, origin, reference);
CREATE INDEX device_entitlements_tag ON device_entitlements(service_tag, kind);

-- Ownership history. At most one active binding per device.
CREATE TABLE device_bindings (
    id                  TEXT PRIMARY KEY,
    service_tag         TEXT NOT NULL REFERENCES devices(service_tag),
    member_id           TEXT NOT NULL REFERENCES members(id),
    profile_id          TEXT,
    bound_via           TEXT NOT NULL,
    proof               TEXT NOT NULL,
    bound_at            BIGINT NOT NULL,
    ended_at            BIGINT,
    end_reason          TEXT
);
CREATE UNIQUE INDEX device_bindings_active ON device_bindings(service_tag) WHERE ended_at IS NULL;
CREATE INDEX device_bindings_member ON device_bindings(member_id);
CREATE INDEX device_bindings_tag ON device_bindings(service_tag, bound_at);

-- Keys the service center signs with (device QR signatures), sealed by the vault.
CREATE TABLE service_keys (
    name                TEXT PRIMARY KEY,
    sealed              TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
