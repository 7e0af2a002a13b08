//! Staff merges of member records, and the CSV import of offline members.

use crate::common::{count, error_code, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn merging_two_members_moves_points_orders_and_identities_once() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let a: Value = manager
        .post(
            "/api/v1/members",
            json!({ "name": "王芳", "phone": "13652410001" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let b: Value = manager
        .post(
            "/api/v1/members",
            json!({ "name": "王芳", "phone": "13652410002" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let (a_id, b_id) = (
        a["member"]["id"].as_str().unwrap(),
        b["member"]["id"].as_str().unwrap(),
    );
    manager
        .post(
            &format!("/api/v1/members/{b_id}/points/adjust"),
            json!({ "amount": 250, "reason": "门店活动", "key": "k" }),
        )
        .await;
    sqlx::query("UPDATE members SET tier = 'gold' WHERE id = $1")
        .bind(b_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders (id, order_no, member_id, channel, status, total_fen, placed_at) VALUES ('o1', 'N1', $1, 'store', 'completed', 100, 0)")
        .bind(b_id).execute(app.db().pool()).await.unwrap();

    let no_reason = manager
        .post(
            &format!("/api/v1/members/{a_id}/merge"),
            json!({ "merged_id": b_id, "reason": "" }),
        )
        .await;
    assert_eq!(error_code(no_reason, 400).await, "invalid_reason");
    let r = manager
        .post(
            &format!("/api/v1/members/{a_id}/merge"),
            json!({ "merged_id": b_id, "reason": "同一人两张卡" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let merged: Value = r.json().await.unwrap();
    assert_eq!(
        merged["points"]["available"],
        100 + 100 + 250,
        "both welcome awards and the adjustment"
    );
    assert_eq!(merged["member"]["tier"], "gold", "the higher tier survives");
    let ids: Vec<String> = merged["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&"phone:+8613652410001".to_owned())
            && ids.contains(&"phone:+8613652410002".to_owned()),
        "{ids:?}"
    );
    assert_eq!(
        count(
            app.db(),
            &format!("SELECT COUNT(*) FROM orders WHERE member_id = '{a_id}'")
        )
        .await,
        1
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM audit_log WHERE action = 'member.merge'"
        )
        .await,
        1
    );
    // The merged record is closed: repeating the merge or using it fails and changes nothing.
    let again = manager
        .post(
            &format!("/api/v1/members/{a_id}/merge"),
            json!({ "merged_id": b_id, "reason": "again" }),
        )
        .await;
    assert_eq!(again.status(), 409);
    let spend = manager
        .post(
            &format!("/api/v1/members/{b_id}/points/spend"),
            json!({ "amount": 1, "key": "x", "purpose": "till" }),
        )
        .await;
    assert_eq!(error_code(spend, 409).await, "member_merged");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM member_merges").await,
        1
    );
    // The ledger still adds up for the survivor.
    let sums = count(app.db(), &format!("SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger WHERE member_id = '{a_id}'")).await;
    assert_eq!(sums, 450);
}

const CSV: &str = "card_no,name,phone,tier,points,joined_on,birthday,store_code\n\
AUR00012345,王芳,13652420001,gold,1200,2019-05-01,1990-02-14,SH-01\n\
AUR00012346,李雷,13652420002,,0,2020-01-01,,\n";

#[tokio::test]
async fn importing_offline_members_twice_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ('s1', 'SH-01', '上海一号店', 'store', '上海', 0)")
        .execute(app.db().pool()).await.unwrap();
    let manager = app.user("membership_manager", None).await;
    let post = |body: &'static str| {
        manager
            .client
            .post(app.url("/api/v1/members/import"))
            .header("x-csrf-token", &manager.csrf)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let first: Value = post(CSV).await.unwrap().json().await.unwrap();
    assert_eq!(first["created"], 2, "{first}");
    let snapshot = (
        count(app.db(), "SELECT COUNT(*) FROM members").await,
        count(
            app.db(),
            "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger",
        )
        .await,
        count(app.db(), "SELECT COUNT(*) FROM raw_events").await,
    );
    let second: Value = post(CSV).await.unwrap().json().await.unwrap();
    assert_eq!(second["created"], 0);
    assert_eq!(second["unchanged"], 2);
    assert_eq!(
        snapshot,
        (
            count(app.db(), "SELECT COUNT(*) FROM members").await,
            count(
                app.db(),
                "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger"
            )
            .await,
            count(app.db(), "SELECT COUNT(*) FROM raw_events").await,
        ),
        "a re-import grants nothing twice"
    );
    let found: Value = manager
        .get("/api/v1/members?q=AUR00012345")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["tier"], "gold");
    assert_eq!(found[0]["store_id"], "s1");
    let detail: Value = manager
        .get(&format!(
            "/api/v1/members/{}",
            found[0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["points"]["available"],
        1200 + 100,
        "opening balance and the welcome award"
    );

    // A file with a bad row imports nothing and names the line.
    let bad = "card_no,name,phone,tier,points\nAUR1,甲,13652420003,gold,1\nAUR2,乙,12345,silver,1\nAUR1,丙,13652420004,,\n";
    let before = count(app.db(), "SELECT COUNT(*) FROM members").await;
    let r = post(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    let report: Value = r.json().await.unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{report}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["code"], "invalid_phone");
    assert_eq!(errors[1]["code"], "duplicate_card");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM members").await,
        before
    );
}

/// A card whose phone is a member's (joined online) links to that member
/// with its points. A row the checks cannot foresee being refused: its phone
/// is held by a customer the graph knows with another card (a POS event),
/// who has not joined. That row is listed; the others land, and importing
/// the fixed file again adds only what was missing.
#[tokio::test]
async fn a_row_refused_while_writing_is_listed_and_the_others_land() {
    use cove_core::audience::{domain::profile_for, IdType, Identifier};
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let mut tx = app.db().begin().await.unwrap();
    let ids = [
        Identifier::new(IdType::MemberCard, "POS0001").unwrap(),
        Identifier::new(IdType::Phone, "13652420009").unwrap(),
    ];
    profile_for(&mut tx, app.db().backend(), &ids, "pos:1", 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let online: Value = manager
        .post(
            "/api/v1/members",
            json!({ "name": "丁", "phone": "13652420005" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let post = |body: &'static str| {
        manager
            .client
            .post(app.url("/api/v1/members/import"))
            .header("x-csrf-token", &manager.csrf)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let csv = "card_no,name,phone,tier,points\nAURW1,甲,13652420007,,5\nAURW2,乙,13652420009,,5\nAURW3,丙,13652420008,,5\nAURW4,丁,13652420005,gold,700\n";
    let r = post(csv).await.unwrap();
    assert_eq!(r.status(), 422);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["linked"], 1, "{report}");
    let linked: Value = manager
        .get("/api/v1/members?q=AURW4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        linked[0]["id"], online["member"]["id"],
        "found by the old card"
    );
    assert_eq!(linked[0]["tier"], "gold");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["code"], "phone_taken");
    let members = || count(app.db(), "SELECT COUNT(*) FROM members");
    let awarded = || {
        count(
            app.db(),
            "SELECT COUNT(*) FROM points_awards WHERE key LIKE 'import:AURW%'",
        )
    };
    assert_eq!(members().await, 3, "the refused row left nothing behind");
    assert_eq!(awarded().await, 3);

    let fixed = "card_no,name,phone,tier,points\nAURW1,甲,13652420007,,5\nAURW2,乙,13652420006,,5\nAURW3,丙,13652420008,,5\nAURW4,丁,13652420005,gold,700\n";
    let r = post(fixed).await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        (report["created"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(3)),
        "{report}"
    );
    assert_eq!(members().await, 4);
    assert_eq!(awarded().await, 4);
}

/// More people than PostgreSQL's shared lock table could hold one lock for
/// each (about 64 per connection) in one transaction: the import commits
/// them in chunks.
#[tokio::test]
async fn a_file_of_thousands_of_members_imports_in_one_go_and_again_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let rows = 4_000;
    let mut csv = String::from("card_no,name,phone,tier,points\n");
    for i in 0..rows {
        // Two pairs of cards share a phone across the first two chunks, in
        // opposite orders: written side by side on PostgreSQL they deadlock,
        // and the chunk that loses is written again.
        let phone = match i {
            190 => 210,
            390 => 10,
            i => i,
        };
        csv.push_str(&format!("AURB{i:07},会员{i},1375{phone:07},,10\n"));
    }
    let post = |body: String| {
        manager
            .client
            .post(app.url("/api/v1/members/import"))
            .header("x-csrf-token", &manager.csrf)
            .header("content-type", "text/csv")
            .body(body)
            // 4,000 members take a while in a debug build.
            .timeout(std::time::Duration::from_secs(600))
            .send()
    };
    let first = post(csv.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        (first["created"].as_u64(), first["linked"].as_u64()),
        (Some(rows as u64 - 2), Some(2)),
        "a card whose phone is already a member's links to that member: {first}"
    );
    let state = || async {
        (
            count(app.db(), "SELECT COUNT(*) FROM members").await,
            count(app.db(), "SELECT COUNT(*) FROM identities").await,
            count(
                app.db(),
                "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger",
            )
            .await,
        )
    };
    let after_first = state().await;
    assert_eq!(after_first.0, rows as i64 - 2);
    assert_eq!(after_first.1, rows as i64 * 2 - 2, "every card and phone");
    let second: Value = post(csv).await.unwrap().json().await.unwrap();
    assert_eq!(second["unchanged"], rows, "{second}");
    assert_eq!(state().await, after_first, "a re-import changes nothing");
}
