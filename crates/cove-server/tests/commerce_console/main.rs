//! The console's order pages: the list with status tabs, counts and search,
//! an order's page with its explanation, lines, payments, refunds and the
//! actions its status allows, and access control.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use common::{CustomerClient, TestApp};
use serde_json::{json, Value};

/// A category, a warehouse and two SKUs with stock.
async fn catalog(app: &TestApp) {
    let pool = app.db().pool();
    for sql in [
        "INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ('cat-l', 'laptop', '笔记本', 'Laptops', 1)",
        "INSERT INTO stock_locations (id, code, name, kind, ships_online, priority, created_at) VALUES ('wh-1', 'WH-1', 'Main warehouse', 'warehouse', 1, 0, 0)",
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) VALUES ('p-X1', 'X1', 'cat-l', '极光 X1', '极光 X1', 'device', 699900, 'active', 0)",
        "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) VALUES ('s-X1', 'p-X1', 'X1', '', '', 699900, 0, 0)",
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) VALUES ('p-MS', 'MS', 'cat-l', '无线鼠标', '无线鼠标', 'accessory', 9900, 'active', 0)",
        "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) VALUES ('s-MS', 'p-MS', 'MS', '', '', 9900, 0, 0)",
        "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES ('s-X1', 'wh-1', 50, 0, 0)",
        "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES ('s-MS', 'wh-1', 50, 0, 0)",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

/// A signed-in customer who joined as a member.
async fn member(app: &TestApp, phone: &str) -> CustomerClient {
    let customer = app.customer(&app.new_profile().await).await;
    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": phone }),
        )
        .await;
    assert_eq!(r.status(), 200, "join");
    customer
}

/// Places an order; returns (order id, order number).
async fn place(customer: &CustomerClient, key: &str, items: Value) -> (String, String) {
    let r = customer
        .post(
            "/api/v1/me/checkout",
            json!({
                "key": key,
                "items": items,
                "address": { "name": "韩梅梅", "phone": "13800138000", "region": "上海市 浦东新区", "line": "世纪大道 100 号" },
                "invoice": { "kind": "company", "title": "极光科技有限公司", "tax_id": "91310000MA1K000000" },
                "remark": "请周末送货",
            }),
        )
        .await;
    assert_eq!(r.status(), 200, "checkout: {}", r.text().await.unwrap());
    let placed: Value = r.json().await.unwrap();
    (
        placed["order_id"].as_str().unwrap().to_owned(),
        placed["order_no"].as_str().unwrap().to_owned(),
    )
}

async fn pay(customer: &CustomerClient, order_id: &str) {
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{order_id}/pay/sandbox"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    let payment = started["payment"]["id"].as_str().unwrap();
    let r = customer
        .post(
            &format!("/api/v1/me/payments/{payment}/sandbox-confirm"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn page(session: &common::Session, path: &str) -> String {
    let r = session.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// The count a status tab shows: `<a … data-status="paid" …>待发货 <b>1</b></a>`.
fn tab_count(body: &str, status: &str) -> i64 {
    let tabs = body.find("id=\"order-tabs\"").unwrap();
    let at = tabs
        + body[tabs..]
            .find(&format!("data-status=\"{status}\""))
            .unwrap();
    let b = at + body[at..].find("<b>").unwrap() + 3;
    let end = b + body[b..].find("</b>").unwrap();
    body[b..end].parse().unwrap()
}

#[tokio::test]
async fn the_order_pages_show_a_paid_order_and_filter_by_status() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let customer = member(&app, "13900000101").await;
    let (paid_id, paid_no) = place(
        &customer,
        "console-order-01",
        json!([{ "sku_id": "s-X1", "quantity": 1 }, { "sku_id": "s-MS", "quantity": 2 }]),
    )
    .await;
    pay(&customer, &paid_id).await;
    let (open_id, open_no) = place(
        &customer,
        "console-order-02",
        json!([{ "sku_id": "s-MS", "quantity": 1 }]),
    )
    .await;

    let manager = app.user("store_manager", None).await;
    let all = page(&manager, "/admin/commerce/orders").await;
    assert!(all.contains(&paid_no) && all.contains(&open_no));
    assert!(
        all.contains("id=\"commerce-tabs\""),
        "the orders sit among the commerce tabs"
    );
    let products = page(&manager, "/admin/commerce/products").await;
    assert!(
        products.contains("href=\"/admin/commerce/orders\""),
        "the catalog pages link to the orders"
    );
    assert_eq!(tab_count(&all, "all"), 2);
    assert_eq!(tab_count(&all, "paid"), 1);
    assert_eq!(tab_count(&all, "pending_payment"), 1);
    assert_eq!(tab_count(&all, "shipped"), 0);
    assert!(
        all.contains("¥7,197"),
        "the paid order's total: 6999 + 2 × 99"
    );

    // The status filter keeps only that status's orders.
    let paid = page(&manager, "/admin/commerce/orders?status=paid").await;
    assert!(paid.contains(&paid_no) && !paid.contains(&open_no));
    let open = page(&manager, "/admin/commerce/orders?status=pending_payment").await;
    assert!(open.contains(&open_no) && !open.contains(&paid_no));
    let none = page(&manager, "/admin/commerce/orders?status=refunded").await;
    assert!(!none.contains(&paid_no) && !none.contains(&open_no));
    let r = manager.get("/admin/commerce/orders?status=lost").await;
    assert_eq!(r.status(), 400, "an unknown status is refused");
    // Search by (part of) the order number.
    let found = page(
        &manager,
        &format!("/admin/commerce/orders?q={}", &open_no[4..]),
    )
    .await;
    assert!(found.contains(&open_no) && !found.contains(&paid_no));

    // The order's page: status, explanation, lines, address, invoice, payment, history.
    let body = page(&manager, &format!("/admin/commerce/orders/{paid_id}")).await;
    assert!(body.contains(&paid_no));
    assert!(body.contains("data-status=\"paid\""));
    assert!(body.contains("待发货"), "the status in Chinese by default");
    for kind in ["list", "shipping", "payable"] {
        assert!(
            body.contains(&format!("data-kind=\"{kind}\"")),
            "explanation row {kind}"
        );
    }
    assert!(body.contains("极光 X1") && body.contains("无线鼠标"));
    assert!(body.contains("世纪大道 100 号") && body.contains("极光科技有限公司"));
    assert!(body.contains("请周末送货"));
    assert!(
        body.contains("收货人") && body.contains("税号"),
        "field labels"
    );
    let attribution = &body[body.find("id=\"attribution\"").unwrap()..];
    assert!(attribution.contains("小程序"), "the order's channel");
    assert!(body.contains("sandbox") && body.contains("succeeded"));
    assert!(
        body.contains("id=\"ship-form\""),
        "a paid order can be shipped"
    );
    assert!(!body.contains("id=\"deliver-form\"") && !body.contains("id=\"cancel-form\""));
    assert!(body.contains("id=\"refund-form\""));
    assert!(body.contains(&format!("/api/v1/orders/{paid_id}/ship")));
    // The pending order offers cancellation only.
    let body = page(&manager, &format!("/admin/commerce/orders/{open_id}")).await;
    assert!(body.contains("id=\"cancel-form\"") && !body.contains("id=\"ship-form\""));

    // The forms' API calls with the session's CSRF header move the order along.
    let r = manager
        .post(
            &format!("/api/v1/orders/{paid_id}/ship"),
            json!({ "carrier": "顺丰", "tracking_no": "SF1234567890" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = manager
        .post(
            &format!("/api/v1/orders/{paid_id}/notes"),
            json!({ "body": "顾客要求工作日派送" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body = page(&manager, &format!("/admin/commerce/orders/{paid_id}")).await;
    assert!(body.contains("data-status=\"shipped\"") && body.contains("SF1234567890"));
    assert!(body.contains("id=\"deliver-form\"") && !body.contains("id=\"ship-form\""));
    assert!(
        body.contains("顾客要求工作日派送"),
        "the staff note is listed"
    );
    assert!(
        body.contains("待付款 → <strong>待发货</strong>")
            && body.contains("待发货 → <strong>已发货</strong>"),
        "the history shows the moves"
    );
    let all = page(&manager, "/admin/commerce/orders").await;
    assert_eq!(tab_count(&all, "shipped"), 1);
    assert_eq!(tab_count(&all, "paid"), 0);

    // English labels once the language is switched.
    let body = page(
        &manager,
        &format!("/lang/en?next=/admin/commerce/orders/{paid_id}"),
    )
    .await;
    assert!(body.contains("Price explanation") && body.contains(">Shipped<"));
}

#[tokio::test]
async fn a_refund_request_can_be_decided_from_the_order_page() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let customer = member(&app, "13900000102").await;
    let (id, _) = place(
        &customer,
        "console-order-03",
        json!([{ "sku_id": "s-MS", "quantity": 2 }]),
    )
    .await;
    pay(&customer, &id).await;
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "reason": "不想要了" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let refund: Value = r.json().await.unwrap();
    let rid = refund["id"].as_str().unwrap();

    let manager = app.user("store_manager", None).await;
    let list = page(&manager, "/admin/commerce/orders?status=refund_requested").await;
    assert!(list.contains(&id));
    assert_eq!(tab_count(&list, "refund_requested"), 1);
    let body = page(&manager, &format!("/admin/commerce/orders/{id}")).await;
    assert!(body.contains("不想要了"));
    assert!(body.contains(&format!("/api/v1/refunds/{rid}/approve")));
    assert!(body.contains(&format!("/api/v1/refunds/{rid}/reject")));
    assert!(
        !body.contains("id=\"refund-form\""),
        "no second refund while one is pending"
    );

    let r = manager
        .post(
            &format!("/api/v1/refunds/{rid}/reject"),
            json!({ "reason": "已超出退货期" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body = page(&manager, &format!("/admin/commerce/orders/{id}")).await;
    assert!(body.contains("data-status=\"paid\""), "back where it was");
    assert!(!body.contains(&format!("/api/v1/refunds/{rid}/approve")));
    assert!(body.contains("data-status=\"rejected\""));
}

#[tokio::test]
async fn the_order_pages_need_commerce_access() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let customer = member(&app, "13900000103").await;
    let (id, _) = place(
        &customer,
        "console-order-04",
        json!([{ "sku_id": "s-MS", "quantity": 1 }]),
    )
    .await;

    // A field engineer has no commerce area: the forbidden page, and no nav entry.
    let engineer = app.user("field_engineer", None).await;
    for path in [
        "/admin/commerce/orders".to_owned(),
        format!("/admin/commerce/orders/{id}"),
    ] {
        let r = engineer.get(&path).await;
        assert_eq!(r.status(), 403, "{path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("href=\"/admin/commerce\""));
    }
    // Readers see the order without the action forms.
    let analyst = app.user("data_analyst", None).await;
    let body = page(&analyst, &format!("/admin/commerce/orders/{id}")).await;
    assert!(!body.contains("id=\"order-actions\"") && !body.contains("data-post"));
    let r = analyst
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(r.status(), 403);
    // Store staff see only their own store's orders (this one has none).
    let staff = app.user("store_staff", Some("no-such-store")).await;
    let list = page(&staff, "/admin/commerce/orders").await;
    assert!(!list.contains(&id));
    assert_eq!(
        staff
            .get(&format!("/admin/commerce/orders/{id}"))
            .await
            .status(),
        404
    );
    // The API scopes them alike.
    let listed: Value = staff.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(listed, json!([]));
    let r = staff.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(r.status(), 404);
    // Staff of the store the order came from see it.
    sqlx::query(
        "INSERT INTO stores (id, code, name, kind, city, created_at) \
         VALUES ('store-7', 'SH-07', 'Xujiahui', 'flagship', 'Shanghai', 0)",
    )
    .execute(app.db().pool())
    .await
    .unwrap();
    sqlx::query("UPDATE orders SET store_id = 'store-7' WHERE id = $1")
        .bind(&id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let own_staff = app.user("store_staff", Some("store-7")).await;
    let listed: Value = own_staff.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], id.as_str());
    let r = own_staff.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(r.status(), 200);
    assert!(page(&own_staff, "/admin/commerce/orders")
        .await
        .contains(&id));
    // No session: to the sign-in page.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anonymous
        .get(app.url("/admin/commerce/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}
