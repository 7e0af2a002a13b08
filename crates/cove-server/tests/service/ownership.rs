//! Binding and ownership: possession proofs, one owner at a time under
//! concurrency, history rows, events, transfers (domestic and international).

use crate::common::{count, TestApp};
use crate::fixtures::{catalog, device, events, member, product_id, LAPTOP};
use cove_core::clock::{self, DAY};
use cove_core::db::new_id;
use cove_core::service::ownership::{bind, transfer, unbind};
use cove_core::service::qr::SigningKey;
use cove_core::service::warranty::{grant, register_international};
use cove_core::service::{devices, Kind, Origin, Owner, Proof, ServiceTag};

pub async fn key(app: &TestApp) -> SigningKey {
    SigningKey::load(app.db(), &app.server.as_ref().unwrap().state.vault)
        .await
        .unwrap()
}

pub async fn bind_by_qr(
    app: &TestApp,
    tag: &ServiceTag,
    owner: &Owner,
) -> cove_core::Result<devices::Binding> {
    let key = key(app).await;
    let mut tx = app.db().begin().await?;
    let proof = Proof::QrSignature {
        signature: key.sign(tag),
    };
    let binding = bind(
        &mut tx,
        &key,
        tag,
        owner,
        &proof,
        "qr_chassis",
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(binding)
}

#[tokio::test]
async fn a_member_binds_with_the_codes_signature_once() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = device(&app, "BIND001", LAPTOP, 5).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;

    // A forged or foreign signature proves nothing and changes nothing.
    let k = key(&app).await;
    let mut tx = app.db().begin().await.unwrap();
    let forged = Proof::QrSignature {
        signature: k.sign(&ServiceTag::parse("BIND002").unwrap()),
    };
    let err = bind(
        &mut tx,
        &k,
        &tag,
        &alice,
        &forged,
        "qr_chassis",
        clock::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    drop(tx);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM device_bindings").await,
        0
    );

    let first = bind_by_qr(&app, &tag, &alice).await.unwrap();
    assert_eq!(first.member_id, alice.member_id);
    assert_eq!(events(&app, "device.bound", &alice.profile_id).await, 1);
    // Scanning again is harmless: the same binding, no second event.
    let again = bind_by_qr(&app, &tag, &alice).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(events(&app, "device.bound", &alice.profile_id).await, 1);

    let err = bind_by_qr(&app, &tag, &bob).await.unwrap_err();
    assert_eq!(err.code(), "device_already_bound");
    let owner: Option<String> =
        sqlx::query_scalar("SELECT member_id FROM devices WHERE service_tag = 'BIND001'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(owner.as_deref(), Some(alice.member_id.as_str()));

    // Unbinding frees it; the history keeps both rows and the event marks rebinds.
    let mut tx = app.db().begin().await.unwrap();
    unbind(&mut tx, &tag, &alice, clock::now()).await.unwrap();
    tx.commit().await.unwrap();
    bind_by_qr(&app, &tag, &bob).await.unwrap();
    let mut tx = app.db().begin().await.unwrap();
    assert_eq!(
        unbind(&mut tx, &tag, &alice, clock::now())
            .await
            .unwrap_err()
            .code(),
        "not_device_owner"
    );
    drop(tx);
    let mut conn = app.db().pool().acquire().await.unwrap();
    let history = devices::bindings(&mut conn, &tag).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].end_reason.as_deref(), Some("unbound"));
    assert!(history[1].ended_at.is_none());
    let first_binding: Vec<String> = sqlx::query_scalar(
        "SELECT properties FROM raw_events WHERE event = 'device.bound' ORDER BY occurred_at",
    )
    .fetch_all(app.db().read())
    .await
    .unwrap();
    assert_eq!(first_binding.len(), 2);
    assert!(first_binding
        .iter()
        .all(|p| p.contains("\"first_binding\":true")));
}

#[tokio::test]
async fn twenty_members_binding_one_device_at_once_leave_exactly_one_owner() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = device(&app, "RACE001", LAPTOP, 5).await;
    let mut members = Vec::new();
    for i in 0..20 {
        members.push(member(&app, &format!("racer {i}")).await);
    }
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = members
        .iter()
        .cloned()
        .map(|m| {
            let app = app.clone();
            let tag = tag.clone();
            tokio::spawn(async move { bind_by_qr(&app, &tag, &m).await.map(|b| b.member_id) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(member_id) => winners.push(member_id),
            Err(e) => assert_eq!(e.code(), "device_already_bound", "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one bind wins");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM device_bindings").await,
        1
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM raw_events WHERE event = 'device.bound'"
        )
        .await,
        1
    );
    let owner: Option<String> =
        sqlx::query_scalar("SELECT member_id FROM devices WHERE service_tag = 'RACE001'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(owner, Some(winners[0].clone()));
}

async fn order(app: &TestApp, buyer: &Owner, product: &str, quantity: i64, status: &str) -> String {
    let id = new_id();
    sqlx::query(
        "INSERT INTO orders (id, order_no, member_id, channel, status, total_fen, placed_at, paid_at) \
         VALUES ($1, $2, $3, 'mini_program', $4, 699900, $5, $5)",
    )
    .bind(&id)
    .bind(format!("O{}", &id[24..]))
    .bind(&buyer.member_id)
    .bind(status)
    .bind(clock::now() - DAY)
    .execute(app.db().pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO order_lines (id, order_id, product_id, quantity, unit_price_fen) VALUES ($1, $2, $3, $4, 699900)")
        .bind(new_id())
        .bind(&id)
        .bind(product)
        .bind(quantity)
        .execute(app.db().pool())
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_paid_order_of_the_model_proves_possession_for_as_many_units_as_bought() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = product_id(&app, LAPTOP).await;
    let one = device(&app, "ORDER01", LAPTOP, 2).await;
    let two = device(&app, "ORDER02", LAPTOP, 2).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;
    let paid = order(&app, &alice, &laptop, 1, "completed").await;
    let cancelled = order(&app, &alice, &laptop, 1, "cancelled").await;
    let k = key(&app).await;

    let attempt = |tag: ServiceTag, who: Owner, order_id: String| {
        let app = &app;
        let k = k.clone();
        async move {
            let mut tx = app.db().begin().await.unwrap();
            let proof = Proof::Purchase { order_id };
            let result = bind(&mut tx, &k, &tag, &who, &proof, "purchase", clock::now()).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result
        }
    };
    assert_eq!(
        attempt(one.clone(), bob.clone(), paid.clone())
            .await
            .unwrap_err()
            .code(),
        "purchase_not_found"
    );
    assert_eq!(
        attempt(one.clone(), alice.clone(), cancelled)
            .await
            .unwrap_err()
            .code(),
        "purchase_not_found"
    );
    assert_eq!(
        attempt(one.clone(), alice.clone(), "nope".into())
            .await
            .unwrap_err()
            .code(),
        "purchase_not_found"
    );
    let binding = attempt(one, alice.clone(), paid.clone()).await.unwrap();
    assert_eq!(binding.proof, format!("order:{paid}"));
    assert_eq!(
        attempt(two, alice, paid).await.unwrap_err().code(),
        "purchase_fully_bound"
    );
}

#[tokio::test]
async fn transfers_move_ownership_and_international_ones_need_international_cover() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = device(&app, "TRANS01", LAPTOP, 20).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;
    let carol = member(&app, "Carol").await;
    bind_by_qr(&app, &tag, &alice).await.unwrap();
    let now = clock::now();

    let mut tx = app.db().begin().await.unwrap();
    grant(
        &mut tx,
        &tag,
        Kind::Onsite,
        12,
        Origin::Purchased,
        "order-onsite",
        None,
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Domestic: the new owner gets the device and every entitlement.
    let mut tx = app.db().begin().await.unwrap();
    assert_eq!(
        transfer(&mut tx, &tag, &bob, &carol, None, now)
            .await
            .unwrap_err()
            .code(),
        "not_device_owner"
    );
    assert_eq!(
        transfer(&mut tx, &tag, &alice, &alice, None, now)
            .await
            .unwrap_err()
            .code(),
        "transfer_to_self"
    );
    let to_bob = transfer(&mut tx, &tag, &alice, &bob, Some("cn"), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(to_bob.member_id, bob.member_id);
    assert_eq!(
        events(&app, "device.transferred", &alice.profile_id).await,
        1
    );
    assert_eq!(events(&app, "device.bound", &bob.profile_id).await, 1);

    // International: refused without international cover, and nothing changes.
    let mut tx = app.db().begin().await.unwrap();
    let err = transfer(&mut tx, &tag, &bob, &carol, Some("DE"), now + 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "international_warranty_required");
    drop(tx);
    let mut tx = app.db().begin().await.unwrap();
    let w = register_international(&mut tx, &tag, &bob, now + 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(w.international);
    let mut tx = app.db().begin().await.unwrap();
    transfer(&mut tx, &tag, &bob, &carol, Some("DE"), now + 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = app.db().pool().acquire().await.unwrap();
    let d = devices::get(&mut conn, &tag).await.unwrap();
    assert_eq!(
        (d.region.as_str(), d.member_id.as_deref()),
        ("DE", Some(carol.member_id.as_str()))
    );
    let ents = devices::entitlements(&mut conn, &tag, now + 4)
        .await
        .unwrap();
    let onsite = ents.iter().find(|e| e.kind == Kind::Onsite).unwrap();
    assert_eq!(
        onsite.ends_at,
        now + 3,
        "on-site cover ends at an international transfer"
    );
    assert!(
        ents.iter().any(|e| e.kind == Kind::Base && e.active),
        "the warranty travels"
    );
    let reasons: Vec<Option<String>> = devices::bindings(&mut conn, &tag)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.end_reason)
        .collect();
    assert_eq!(
        reasons,
        [
            Some("transferred".to_owned()),
            Some("transferred".to_owned()),
            None
        ]
    );
}
