//! The demo's on-site service: engineers in Shanghai, Beijing and Shenzhen
//! with working plans, and visits booked over the next days (some already
//! dispatched) so the dispatch board has something on it.

use crate::clock::{Micros, DAY};
use crate::db::Db;
use crate::service::entitlements::{Kind, Origin};
use crate::service::field::{appointments, board, engineers, slots, Booking, EngineerInput};
use crate::service::tickets::Author;
use crate::service::{warranty, ServiceTag};

/// (code, name, phone, territories, skills).
type Demo = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const ENGINEERS: [Demo; 4] = [
    (
        "SH-01",
        "王磊",
        "13800210001",
        &["SH"],
        &["laptop", "desktop"],
    ),
    (
        "SH-02",
        "陈静",
        "13800210002",
        &["SH", "SZ"],
        &["laptop", "server"],
    ),
    (
        "BJ-01",
        "刘洋",
        "13800100001",
        &["BJ"],
        &["laptop", "desktop"],
    ),
    ("SZ-01", "黄敏", "13800755001", &["SZ"], &["laptop"]),
];

/// How many visits the demo books, and how many of them are dispatched.
const VISITS: usize = 5;
const DISPATCHED: usize = 3;

pub async fn seed(db: &Db, now: Micros) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for (code, name, phone, territories, skills) in ENGINEERS {
        let input = EngineerInput {
            code: code.into(),
            name: name.into(),
            phone: phone.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            territories: territories.iter().map(|s| s.to_string()).collect(),
            timezone: "Asia/Shanghai".into(),
            working_days: vec![1, 2, 3, 4, 5, 6],
            day_start_minute: 540,
            day_end_minute: 1080,
            days_off: Vec::new(),
            active: true,
        };
        engineers::create(&mut tx, &input, now).await?;
    }
    // The first bound devices in warranty get a month of on-site cover
    // (inside their warranty) and a visit each.
    let owners: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT d.service_tag, m.id, m.profile_id FROM devices d JOIN members m ON m.id = d.member_id \
         WHERE m.profile_id IS NOT NULL AND d.warranty_ends_at > $1 ORDER BY d.service_tag LIMIT 5",
    )
    .bind(now + 40 * DAY)
    .fetch_all(&mut *tx)
    .await?;
    let tomorrow = board::tomorrow(now);
    let last = board::window(Some(&tomorrow), 4, now)?.next;
    let query = slots::SlotQuery {
        territory: "SH".into(),
        skill: None,
        from: tomorrow,
        to: last,
    };
    let open = slots::available(&mut tx, &query, now).await?;
    let backend = db.backend();
    for (i, ((tag, member_id, profile_id), slot)) in owners.into_iter().zip(open).enumerate() {
        if i >= VISITS {
            break;
        }
        let service_tag = ServiceTag::parse(&tag)?;
        onsite_cover(&mut tx, &service_tag, now).await?;
        let booked = appointments::book(
            &mut tx,
            backend,
            Booking {
                service_tag: tag,
                territory: "SH".into(),
                skill: None,
                address: format!("上海市徐汇区漕溪北路 {} 号", 100 + i),
                starts_at: slot.starts_at,
                ticket_id: None,
                billable: false,
                profile_id: profile_id.clone(),
                member_id: Some(member_id),
                author: Author::Customer { profile_id },
            },
            now,
        )
        .await?;
        if i < DISPATCHED {
            if let Some(engineer) = &booked.appointment.engineer_id {
                appointments::dispatch(
                    &mut tx,
                    backend,
                    &booked.appointment.id,
                    engineer,
                    &Author::System,
                    now,
                )
                .await?;
            }
        }
    }
    if let Some((tag, _)) = service_device(&mut tx, now).await? {
        onsite_cover(&mut tx, &ServiceTag::parse(&tag)?, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A month of on-site cover from yesterday (inside the device's warranty).
async fn onsite_cover(
    conn: &mut crate::db::Conn,
    tag: &ServiceTag,
    now: Micros,
) -> anyhow::Result<()> {
    warranty::grant(
        conn,
        tag,
        Kind::Onsite,
        1,
        Origin::MemberBenefit,
        "demo-onsite",
        None,
        now - DAY,
    )
    .await?;
    Ok(())
}

/// The device (and its member) the demo's service sign-in books a repair
/// for: the last bound device in warranty, clear of the booked ones.
async fn service_device(
    conn: &mut crate::db::Conn,
    now: Micros,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT d.service_tag, d.member_id FROM devices d JOIN members m ON m.id = d.member_id \
         WHERE m.profile_id IS NOT NULL AND m.merged_into IS NULL AND d.warranty_ends_at > $1 \
         ORDER BY d.service_tag DESC LIMIT 1",
    )
    .bind(now + 40 * DAY)
    .fetch_optional(&mut *conn)
    .await?)
}

/// (member_no, name, profile_id) of the member with on-site cover to book with.
pub async fn service_member(db: &Db) -> anyhow::Result<Option<(String, String, String)>> {
    let mut conn = db.read().acquire().await?;
    let seeded: Option<String> = sqlx::query_scalar(
        "SELECT service_tag FROM device_entitlements WHERE reference = 'demo-onsite' \
         ORDER BY service_tag DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(tag) = seeded else {
        return Ok(None);
    };
    Ok(sqlx::query_as(
        "SELECT m.member_no, m.name, m.profile_id FROM devices d JOIN members m ON m.id = d.member_id \
         WHERE d.service_tag = $1",
    )
    .bind(tag)
    .fetch_optional(&mut *conn)
    .await?)
}
