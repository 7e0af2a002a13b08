use super::*;

async fn open(dir: &tempfile::TempDir, name: &str) -> Db {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let db = Db::connect_url(&url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    db.migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    db
}

fn options(members: usize, seed: u64) -> Options {
    Options {
        members,
        seed,
        public_url: "http://localhost:8080".into(),
        vault: crate::vault::Vault::from_key(&[1; 32]),
    }
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Everything but the ids, in a stable order.
async fn fingerprint(db: &Db) -> Vec<String> {
    let queries = [
        "SELECT member_no || '|' || name || '|' || phone || '|' || city || '|' || tier || '|' || points || '|' \
         || joined_channel || '|' || COALESCE(birthday, '') || '|' || joined_at || '|' \
         || COALESCE((SELECT code FROM stores s WHERE s.id = m.store_id), '') FROM members m ORDER BY member_no",
        "SELECT o.order_no || '|' || m.member_no || '|' || o.channel || '|' || o.status || '|' || o.total_fen || '|' \
         || o.placed_at || '|' || COALESCE(o.paid_at, 0) || '|' || COALESCE((SELECT code FROM stores s WHERE s.id = o.store_id), '') \
         FROM orders o JOIN members m ON m.id = o.member_id ORDER BY o.order_no",
        "SELECT o.order_no || '|' || p.code || '|' || l.quantity || '|' || l.unit_price_fen FROM order_lines l \
         JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id ORDER BY o.order_no, p.code",
        "SELECT d.service_tag || '|' || p.code || '|' || d.shipped_at || '|' || d.warranty_ends_at || '|' \
         || COALESCE(m.member_no, '') || '|' || COALESCE(d.bound_at, 0) FROM devices d \
         JOIN products p ON p.id = d.product_id LEFT JOIN members m ON m.id = d.member_id ORDER BY d.service_tag",
        "SELECT m.member_no || '|' || e.kind || '|' || e.name || '|' || e.channel || '|' || e.occurred_at FROM events e \
         JOIN members m ON m.id = e.member_id ORDER BY m.member_no, e.occurred_at, e.name",
    ];
    let mut out = Vec::new();
    for sql in queries {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!rows.is_empty(), "{sql}");
        out.extend(rows);
    }
    out
}

#[tokio::test]
async fn seeds_a_consistent_brand() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = open(&dir, "brand.db").await;
    let report = seed(&db, &options(300, 7))
        .await
        .unwrap_or_else(|e| panic!("seed: {e:#}"));
    assert_eq!(report.manifest["counts"]["members"], 300);
    assert!(report.summary.contains("Members 300"), "{}", report.summary);

    // The catalog.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM categories").await, 5);
    assert!(scalar(&db, "SELECT COUNT(*) FROM products").await >= 40);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM products WHERE kind NOT IN ('device', 'accessory', 'service', 'bundle')"
        )
        .await,
        0
    );
    // Every product has a SKU; configurable laptops, a bundle, stock per location.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM skus s WHERE s.product_id = p.id)").await,
        0
    );
    assert!(scalar(&db, "SELECT COUNT(DISTINCT product_id) FROM option_groups").await >= 2);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM option_rules").await, 2);
    assert!(scalar(&db, "SELECT COUNT(*) FROM bundle_items").await >= 2);
    assert!(
        scalar(&db, "SELECT COUNT(*) FROM products WHERE service_kind = 'warranty_extension' AND service_months IN (12, 24)").await
            >= 2
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM stock_locations WHERE ships_online = 1"
        )
        .await,
        1
    );
    assert!(scalar(&db, "SELECT COUNT(*) FROM stock_levels k JOIN stock_locations l ON l.id = k.location_id WHERE l.ships_online = 1 AND k.on_hand < 5").await >= 1);

    // Every order's total is the sum of its 1–3 lines.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM orders o WHERE o.total_fen <> \
             (SELECT COALESCE(SUM(l.quantity * l.unit_price_fen), -1) FROM order_lines l WHERE l.order_id = o.id)"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM orders o WHERE (SELECT COUNT(*) FROM order_lines l WHERE l.order_id = o.id) NOT BETWEEN 1 AND 3"
        )
        .await,
        0
    );
    // Cancelled orders were never paid; all others were.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM orders WHERE (status = 'cancelled') = (paid_at IS NOT NULL)"
        )
        .await,
        0
    );
    // Attribution: store orders name their store, reseller orders their reseller.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM orders WHERE (channel = 'offline_store' AND store_id IS NULL) \
             OR (channel = 'reseller' AND reseller_id IS NULL) OR channel NOT IN ('mini_program', 'h5', 'offline_store', 'reseller', 'wecom')"
        )
        .await,
        0
    );

    // Bound devices belong to members and were bound after they shipped.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM devices d LEFT JOIN members m ON m.id = d.member_id \
             WHERE (d.member_id IS NULL) <> (d.bound_at IS NULL) \
             OR (d.member_id IS NOT NULL AND (m.id IS NULL OR d.bound_at < d.shipped_at))"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM devices WHERE warranty_ends_at < shipped_at + 365 * 86400000000 \
             OR warranty_ends_at > shipped_at + 5 * 365 * 86400000000"
        )
        .await,
        0
    );
    // Every device has its factory warranty; its cover ends where the entitlements do;
    // each owner has one open binding row.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM device_entitlements e \
             WHERE e.service_tag = d.service_tag AND e.kind = 'base') \
             OR d.warranty_ends_at <> (SELECT MAX(e.ends_at) FROM device_entitlements e WHERE e.service_tag = d.service_tag) \
             OR (d.member_id IS NOT NULL) <> EXISTS (SELECT 1 FROM device_bindings b \
             WHERE b.service_tag = d.service_tag AND b.ended_at IS NULL AND b.member_id = d.member_id)"
        )
        .await,
        0
    );
    let tags: Vec<String> = sqlx::query_scalar("SELECT service_tag FROM devices")
        .fetch_all(db.pool())
        .await
        .unwrap_or_default();
    assert!(!tags.is_empty());
    assert!(tags.iter().all(|t| t.len() == 7
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())));
    let devices = tags.len() as f64;
    let bound = scalar(
        &db,
        "SELECT COUNT(*) FROM devices WHERE member_id IS NOT NULL",
    )
    .await as f64;
    assert!(
        (0.15..0.5).contains(&(bound / devices)),
        "bound share {}",
        bound / devices
    );

    // Phone numbers: unique mainland mobile numbers, stored as E.164 like
    // the identity graph stores them.
    let phones: Vec<String> = sqlx::query_scalar("SELECT phone FROM members")
        .fetch_all(db.pool())
        .await
        .unwrap_or_default();
    assert_eq!(phones.len(), 300);
    assert!(phones
        .iter()
        .all(|p| crate::audience::identity::normalize_phone(p)
            .ok()
            .as_deref()
            == Some(p.as_str())));

    // Every member is a profile holding its phone and card, with its points as a ledger.
    let orphans: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE profile_id IS NULL")
        .fetch_one(db.pool())
        .await
        .unwrap_or(-1);
    assert_eq!(orphans, 0);
    let cards: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM identities i JOIN members m ON m.profile_id = i.profile_id AND i.type = 'member_card' AND i.value = m.member_no",
    )
    .fetch_one(db.pool())
    .await
    .unwrap_or(-1);
    assert_eq!(cards, 300);
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM members m WHERE m.points <> (SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger l WHERE l.member_id = m.id)",
    )
    .fetch_one(db.pool())
    .await
    .unwrap_or(-1);
    assert_eq!(
        mismatched, 0,
        "each member's ledger sums to the balance the history left"
    );
    let unique: std::collections::HashSet<_> = phones.iter().collect();
    assert_eq!(unique.len(), phones.len());

    // Tiers form a pyramid.
    let tier = |t: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM members WHERE tier = $1")
                .bind(t)
                .fetch_one(db.pool())
                .await
                .unwrap_or(-1)
        }
    };
    let (regular, silver, gold, diamond) = (
        tier("regular").await,
        tier("silver").await,
        tier("gold").await,
        tier("diamond").await,
    );
    assert_eq!(regular + silver + gold + diamond, 300);
    assert!(
        regular > silver && silver > diamond && gold > diamond,
        "{regular} {silver} {gold} {diamond}"
    );

    // Repeat purchase, order value and lifetime value like the case.
    let counts = Counts::load(&db).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (0.08..0.30).contains(&counts.repeat_purchase_rate),
        "repeat purchase rate {}",
        counts.repeat_purchase_rate
    );
    assert!(
        (300_000..2_500_000).contains(&counts.average_order_value_fen),
        "average order {}",
        counts.average_order_value_fen
    );
    assert!(counts.lifetime_value_fen > counts.average_order_value_fen);
    assert!(
        counts.buyers > 100 && counts.buyers < 300,
        "{}",
        counts.buyers
    );
    assert!(
        (6.0..18.0).contains(&counts.visits_per_member),
        "{}",
        counts.visits_per_member
    );

    // Events belong to members, stay bounded per member and in the past.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM events e LEFT JOIN members m ON m.id = e.member_id WHERE m.id IS NULL").await,
        0
    );
    assert!(
        scalar(&db, "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM events GROUP BY member_id) t").await
            <= events::MAX_EVENTS as i64
    );
    let now = crate::clock::now();
    let latest = scalar(&db, "SELECT MAX(occurred_at) FROM events").await;
    assert!(latest <= now);
    let earliest = scalar(&db, "SELECT MIN(joined_at) FROM members").await;
    assert!(earliest >= now - 3 * 366 * DAY);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM events WHERE name = 'Signed Up'").await,
        300
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM events WHERE name = 'Device Bound'"
        )
        .await,
        bound as i64
    );

    // The dispatch board has engineers and visits, some dispatched.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM field_engineers").await, 4);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM field_appointments").await,
        5
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM field_appointments WHERE status = 'dispatched'"
        )
        .await,
        3
    );

    // Seeding again changes nothing.
    let before = fingerprint(&db).await;
    let again = seed(&db, &options(300, 7))
        .await
        .unwrap_or_else(|e| panic!("second seed: {e:#}"));
    assert!(
        again.summary.contains("already seeded"),
        "{}",
        again.summary
    );
    assert_eq!(fingerprint(&db).await, before);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM stores").await,
        team::STORES.len() as i64
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM members").await, 300);
    assert_eq!(again.manifest["counts"], report.manifest["counts"]);

    // The customer who has not joined: known by phone and Mini Program
    // openid, one profile however often the demo starts, with a fresh link.
    let guest = &again.manifest["guest_sign_in"];
    assert_eq!(guest["phone"], GUEST_PHONE);
    assert_ne!(guest["url"], report.manifest["guest_sign_in"]["url"]);
    let guest_sql = format!(
        "SELECT COUNT(DISTINCT profile_id) FROM identities WHERE value IN ('{GUEST_PHONE}', '{GUEST_OPEN_ID}')"
    );
    assert_eq!(scalar(&db, &guest_sql).await, 1);
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT COUNT(*) FROM members WHERE phone = '{GUEST_PHONE}'")
        )
        .await,
        0
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_brand() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut prints = Vec::new();
    for (name, seed_value) in [("a.db", 42), ("b.db", 42), ("c.db", 43)] {
        let db = open(&dir, name).await;
        seed(&db, &options(200, seed_value))
            .await
            .unwrap_or_else(|e| panic!("seed: {e:#}"));
        prints.push(fingerprint(&db).await);
        db.close().await;
    }
    assert!(prints[0].len() > 1_000);
    assert_eq!(prints[0], prints[1]);
    assert_ne!(prints[0], prints[2]);
}

#[test]
fn thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(-1_234_567), "-1,234,567");
}

#[tokio::test]
async fn a_demo_purchase_puts_its_notification_in_the_outbox() {
    use crate::commerce::{checkout, payments, pricing::Buyer};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = open(&dir, "notify.db").await;
    seed(&db, &options(60, 11))
        .await
        .unwrap_or_else(|e| panic!("seed: {e:#}"));
    let (_, _, profile) = ranked_member(&db, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a shopper"));
    let (member_id, tier): (String, String) =
        sqlx::query_as("SELECT id, tier FROM members WHERE profile_id = $1")
            .bind(&profile)
            .fetch_one(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let sku: String = sqlx::query_scalar(
        "SELECT s.id FROM skus s JOIN products p ON p.id = s.product_id JOIN stock_levels l ON l.sku_id = s.id \
         WHERE p.status = 'active' AND p.kind = 'device' AND l.on_hand - l.reserved > 0 ORDER BY s.code LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let request: checkout::CheckoutRequest = serde_json::from_value(json!({
        "key": "demo-notify-0001", "items": [{ "sku_id": sku, "quantity": 1 }],
        "address": { "name": "李雷", "phone": "13800138000", "region": "上海市 浦东新区", "line": "世纪大道 100 号" },
        "invoice": null, "remark": null,
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let buyer = Buyer {
        profile_id: profile.clone(),
        member_id: Some(member_id),
        tier: Some(tier),
    };
    let placed = checkout::place(&db, &buyer, "mini_program", &request)
        .await
        .unwrap_or_else(|e| panic!("place: {e}"));
    let payment = payments::start(&db, &placed.order_id, payments::Provider::Sandbox)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    payments::sandbox_pay(&db, &payment.id)
        .await
        .unwrap_or_else(|e| panic!("pay: {e}"));
    let (kind, recipient, template, status): (String, String, String, String) = sqlx::query_as(
        "SELECT kind, recipient, template_id, status FROM wechat_messages WHERE profile_id = $1",
    )
    .bind(&profile)
    .fetch_one(db.pool())
    .await
    .unwrap_or_else(|e| panic!("one message: {e}"));
    assert_eq!(
        (kind.as_str(), recipient.as_str(), template.as_str()),
        ("subscribe", "oAuroraDemoShopper", "TPL_ORDER_PAID")
    );
    assert_eq!(status, "queued", "the send job puts it in the sandbox");
}
