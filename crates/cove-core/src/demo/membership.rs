//! Makes the generated members real members: each gets a profile in the
//! identity graph (phone and card number as identities), an opening points
//! lot for the balance the history left them, growth for their tier, and
//! the demo mall gets a few items (its coupon issued from a coupon template). Set-based SQL, so a million members take
//! seconds.

use crate::audience::identity::BLOCKED_PHONES;
use crate::clock::{Micros, DAY};
use crate::commerce::promotions::{coupons, CouponKind, NewCouponTemplate};
use crate::db::{Backend, Db};
use crate::membership::earn::expiry_for;

pub async fn seed(db: &Db, now: Micros) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(ordinal), 0) FROM profiles")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO profiles (id, ordinal, created_at, updated_at, first_seen_at, last_seen_at, traits) \
         SELECT 'p-' || id, $1 + ROW_NUMBER() OVER (ORDER BY id), joined_at, $2, joined_at, $2, '{}' \
         FROM members WHERE profile_id IS NULL",
    )
    .bind(base)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let top: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(ordinal), 0) FROM profiles")
        .fetch_one(&mut *tx)
        .await?;
    match db.backend() {
        Backend::Sqlite => {
            sqlx::query("UPDATE counters SET value = $1 WHERE name = 'profile_ordinal'")
                .bind(top)
                .execute(&mut *tx)
                .await?;
        }
        Backend::Postgres if top > 0 => {
            sqlx::query("SELECT setval('profile_ordinal_seq', $1)")
                .bind(top)
                .fetch_one(&mut *tx)
                .await?;
        }
        Backend::Postgres => {}
    }
    sqlx::query("UPDATE members SET profile_id = 'p-' || id, tier_since = $1, growth = CASE tier \
                 WHEN 'diamond' THEN 40000 WHEN 'gold' THEN 15000 WHEN 'silver' THEN 7000 ELSE 0 END \
                 WHERE profile_id IS NULL")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let blocked: Vec<String> = BLOCKED_PHONES.iter().map(|p| format!("'{p}'")).collect();
    // The phones are generated digits, the blocked list constants: no input in this SQL.
    sqlx::query(&format!(
        "INSERT INTO identities (type, value, profile_id, source_id, created_at) \
         SELECT 'phone', '+86' || phone, profile_id, 'cove', joined_at FROM members \
         WHERE phone IS NOT NULL AND '+86' || phone NOT IN ({}) \
         ON CONFLICT (type, value) DO NOTHING",
        blocked.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE members SET phone = '+86' || phone WHERE phone IS NOT NULL AND phone NOT LIKE '+%'",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO identities (type, value, profile_id, source_id, created_at) \
         SELECT 'member_card', member_no, profile_id, 'cove', joined_at FROM members WHERE profile_id IS NOT NULL \
         ON CONFLICT (type, value) DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    // The balance the history left each member becomes one opening lot.
    let expires = expiry_for(now);
    sqlx::query(
        "INSERT INTO points_lots (id, member_id, amount, remaining, source, reference, earned_at, unlock_at, expires_at) \
         SELECT 'lot-' || id, id, points, points, 'import', 'demo:' || id, $1, $1, $2 FROM members WHERE points > 0",
    )
    .bind(now)
    .bind(expires)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO points_awards (key, member_id, lot_id, amount, reversed, at) \
         SELECT 'demo:' || id, id, 'lot-' || id, points, 0, $1 FROM members WHERE points > 0",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO points_ledger (id, member_id, kind, amount, lot_id, reference, reason, at) \
         SELECT 'led-' || id, id, 'award', points, 'lot-' || id, 'demo:' || id, 'opening balance', $1 \
         FROM members WHERE points > 0",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO growth_ledger (id, member_id, amount, source, key, at) \
         SELECT 'gr-' || id, id, growth, 'import', 'demo:' || id, $1 FROM members WHERE growth > 0",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mall_coupon = coupons::create_template(
        &mut tx,
        &NewCouponTemplate {
            name: "积分兑换券".into(),
            description: "积分商城兑换：满 ¥500 减 ¥50，兑换后 30 天内有效".into(),
            kind: CouponKind::AmountOff,
            amount_fen: 5_000,
            percent: 0,
            cap_fen: None,
            threshold_fen: 50_000,
            scope: "all".into(),
            scope_values: vec![],
            starts_at: now - DAY,
            ends_at: now + 365 * DAY,
            valid_days: Some(30),
            claimable: false,
            per_person_limit: 1,
            total_quantity: None,
            budget_fen: None,
            stackable_with_promotions: true,
        },
        now,
    )
    .await?;
    for (id, kind, zh, en, points, stock, value) in [
        (
            "mall-mouse",
            "product",
            "极光 G7 游戏鼠标",
            "Aurora G7 gaming mouse",
            2_000,
            Some(200),
            "",
        ),
        (
            "mall-coupon-50",
            "coupon",
            "满 500 减 50 券",
            "¥50 off orders over ¥500",
            800,
            None,
            mall_coupon.id.as_str(),
        ),
        (
            "mall-warranty-12",
            "warranty_extension",
            "延长保修 12 个月",
            "12-month warranty extension",
            6_000,
            Some(500),
            "12",
        ),
        (
            "mall-backpack",
            "product",
            "极光双肩包",
            "Aurora backpack",
            3_500,
            Some(80),
            "",
        ),
    ] {
        sqlx::query(
            "INSERT INTO mall_items (id, kind, name_zh, name_en, points, stock, per_member_limit, min_tier_rank, value, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 2, 0, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(zh)
        .bind(en)
        .bind(points)
        .bind(stock)
        .bind(value)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
