//! The catalog over HTTP: staff CRUD and its validation, access control,
//! storefront search and pages, CSV round trips, and stock changes with
//! their movements and the reserved-stock guard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use common::{count, error_code, Session, TestApp};
use serde_json::{json, Value};

async fn put(s: &Session, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    s.client
        .put(app.url(path))
        .header("x-csrf-token", &s.csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn patch(s: &Session, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    s.client
        .patch(app.url(path))
        .header("x-csrf-token", &s.csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn post_csv(s: &Session, app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    s.client
        .post(app.url(path))
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// A category, a configurable laptop, parts, a mouse and the warehouse.
async fn seed(app: &TestApp, s: &Session) {
    ok(s.post(
        "/api/v1/catalog/categories",
        json!({ "code": "laptops", "name_zh": "笔记本", "name_en": "Laptops", "position": 1 }),
    )
    .await)
    .await;
    ok(s.post("/api/v1/catalog/categories", json!({ "code": "accessories", "name_zh": "配件", "name_en": "Accessories", "position": 2 })).await).await;
    ok(s.post("/api/v1/catalog/products", json!({
        "code": "NB-X14", "category": "laptops", "name_zh": "极光 X14", "name_en": "Aurora X14", "kind": "device",
        "description": "Thin and light", "attributes": { "screen": "14", "use": "office" }, "price_fen": 699_900 })).await).await;
    ok(s.post("/api/v1/catalog/products", json!({
        "code": "NB-STORM", "category": "laptops", "name_zh": "风暴 16", "name_en": "Storm 16", "kind": "device",
        "attributes": { "screen": "16", "use": "gaming" }, "price_fen": 999_900 })).await).await;
    ok(s.post("/api/v1/catalog/products", json!({
        "code": "RAM", "category": "accessories", "name_zh": "内存", "name_en": "Memory", "kind": "accessory", "price_fen": 59_900 })).await).await;
    ok(s.post(
        "/api/v1/catalog/products/RAM/skus",
        json!({ "code": "RAM-32", "name_zh": "32GB", "name_en": "32 GB", "price_fen": 119_900 }),
    )
    .await)
    .await;
    ok(s.post("/api/v1/catalog/products", json!({
        "code": "MOUSE", "category": "accessories", "name_zh": "静音鼠标", "name_en": "Silent Mouse", "kind": "accessory", "price_fen": 12_900 })).await).await;
    ok(s.post(
        "/api/v1/catalog/locations",
        json!({ "code": "WH", "name": "Warehouse", "kind": "warehouse" }),
    )
    .await)
    .await;
    for (sku, n) in [
        ("NB-STORM", 5),
        ("RAM", 10),
        ("RAM-32", 0),
        ("MOUSE", 30),
        ("NB-X14", 8),
    ] {
        ok(s.post(
            "/api/v1/catalog/stock/set",
            json!({ "sku": sku, "location": "WH", "on_hand": n }),
        )
        .await)
        .await;
    }
    for (code, zh, en) in [("gpu", "显卡", "Graphics"), ("memory", "内存", "Memory")] {
        ok(s.post(
            "/api/v1/catalog/products/NB-STORM/option-groups",
            json!({ "code": code, "name_zh": zh, "name_en": en }),
        )
        .await)
        .await;
    }
    let _ = app;
}

async fn option_id(s: &Session, product: &str, group: &str, option: &str) -> String {
    let d = ok(s.get(&format!("/api/v1/catalog/products/{product}")).await).await;
    d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"] == group)
        .unwrap()["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == option)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn staff_build_a_configurable_product_and_bad_input_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let db = app.db();

    // Validation: status and code, nothing written.
    let products = count(db, "SELECT COUNT(*) FROM products").await;
    let audit = count(db, "SELECT COUNT(*) FROM audit_log").await;
    for (body, code) in [
        (
            json!({ "code": "bad code", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "device", "price_fen": 1 }),
            "invalid_code",
        ),
        (
            json!({ "code": "P1", "category": "nope", "name_zh": "a", "name_en": "a", "kind": "device", "price_fen": 1 }),
            "unknown_category",
        ),
        (
            json!({ "code": "P1", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "toy", "price_fen": 1 }),
            "invalid_kind",
        ),
        (
            json!({ "code": "P1", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "device", "price_fen": -1 }),
            "invalid_price",
        ),
        (
            json!({ "code": "P1", "category": "laptops", "name_zh": "", "name_en": "a", "kind": "device", "price_fen": 1 }),
            "name_required",
        ),
        (
            json!({ "code": "P1", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "service", "service_kind": "warranty_extension", "price_fen": 1 }),
            "service_months_required",
        ),
        (
            json!({ "code": "P1", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "device", "member_only": true, "min_tier": "platinum", "price_fen": 1 }),
            "unknown_tier",
        ),
    ] {
        assert_eq!(
            error_code(s.post("/api/v1/catalog/products", body).await, 400).await,
            code
        );
    }
    assert_eq!(error_code(s.post("/api/v1/catalog/products", json!({ "code": "NB-X14", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "device", "price_fen": 1 })).await, 409).await, "duplicate_code");
    assert_eq!(count(db, "SELECT COUNT(*) FROM products").await, products);
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log").await, audit);

    // Options: the first option of a required group must be its default.
    let opt = |code: &str, delta: i64, component: Option<&str>, default: bool| {
        json!({
        "code": code, "name_zh": code, "name_en": code, "price_delta_fen": delta, "component_sku": component, "is_default": default })
    };
    let path = "/api/v1/catalog/products/NB-STORM/option-groups/gpu/options";
    assert_eq!(
        error_code(s.post(path, opt("4070", 0, None, false)).await, 400).await,
        "default_required"
    );
    ok(s.post(path, opt("4070", 0, None, true)).await).await;
    ok(s.post(path, opt("4080", 300_000, None, false)).await).await;
    let path = "/api/v1/catalog/products/NB-STORM/option-groups/memory/options";
    ok(s.post(path, opt("16g", 0, Some("RAM"), true)).await).await;
    ok(s.post(path, opt("32g", 100_000, Some("RAM-32"), false))
        .await)
    .await;
    assert_eq!(
        error_code(s.post(path, opt("64g", 0, Some("NOPE"), false)).await, 400).await,
        "unknown_sku"
    );

    // Rules: same product, no self-rule, not within a group.
    let g4080 = option_id(&s, "NB-STORM", "gpu", "4080").await;
    let m32 = option_id(&s, "NB-STORM", "memory", "32g").await;
    let m16 = option_id(&s, "NB-STORM", "memory", "16g").await;
    let rule = |a: &str, kind: &str, b: &str| json!({ "option_id": a, "kind": kind, "other_option_id": b, "message": "RTX 4080 needs 32 GB" });
    let rules = "/api/v1/catalog/products/NB-STORM/rules";
    assert_eq!(
        error_code(s.post(rules, rule(&g4080, "requires", &g4080)).await, 400).await,
        "self_rule"
    );
    assert_eq!(
        error_code(s.post(rules, rule(&m16, "excludes", &m32)).await, 400).await,
        "same_group"
    );
    assert_eq!(
        error_code(s.post(rules, rule(&g4080, "needs", &m32)).await, 400).await,
        "invalid_rule_kind"
    );
    assert_eq!(
        error_code(
            s.post(
                "/api/v1/catalog/products/NB-X14/rules",
                rule(&g4080, "requires", &m32)
            )
            .await,
            400
        )
        .await,
        "unknown_option"
    );
    ok(s.post(rules, rule(&g4080, "requires", &m32)).await).await;

    // Tier prices, images, a bundle.
    let prices = ok(put(
        &s,
        &app,
        "/api/v1/catalog/skus/NB-X14/tier-prices",
        json!([{ "tier": "gold", "price_fen": 679_900 }]),
    )
    .await)
    .await;
    assert_eq!(prices[0]["tier"], "gold");
    assert_eq!(
        error_code(
            put(
                &s,
                &app,
                "/api/v1/catalog/skus/NB-X14/tier-prices",
                json!([{ "tier": "gold", "price_fen": -5 }])
            )
            .await,
            400
        )
        .await,
        "invalid_price"
    );
    assert_eq!(
        error_code(
            put(
                &s,
                &app,
                "/api/v1/catalog/products/NB-X14/images",
                json!({ "images": ["javascript:alert(1)"] })
            )
            .await,
            400
        )
        .await,
        "invalid_image"
    );
    ok(put(
        &s,
        &app,
        "/api/v1/catalog/products/NB-X14/images",
        json!({ "images": ["https://cdn.example/x14.png"] }),
    )
    .await)
    .await;
    ok(s.post("/api/v1/catalog/products", json!({ "code": "KIT", "category": "laptops", "name_zh": "套装", "name_en": "Kit", "kind": "bundle", "price_fen": 700_000 })).await).await;
    assert_eq!(
        error_code(
            put(
                &s,
                &app,
                "/api/v1/catalog/skus/NB-X14/bundle-items",
                json!([{ "sku": "MOUSE", "quantity": 1 }])
            )
            .await,
            400
        )
        .await,
        "not_a_bundle"
    );
    assert_eq!(
        error_code(
            put(
                &s,
                &app,
                "/api/v1/catalog/skus/KIT/bundle-items",
                json!([{ "sku": "KIT", "quantity": 1 }])
            )
            .await,
            400
        )
        .await,
        "nested_bundle"
    );
    ok(put(
        &s,
        &app,
        "/api/v1/catalog/skus/KIT/bundle-items",
        json!([{ "sku": "NB-X14", "quantity": 1 }, { "sku": "MOUSE", "quantity": 2 }]),
    )
    .await)
    .await;

    // The storefront detail: SKUs with stock, options with their parts' stock, rules.
    let d = ok(app_get(&app, "/api/v1/store/products/NB-STORM").await).await;
    assert_eq!(d["skus"][0]["sellable"], 5);
    assert_eq!(d["rules"][0]["kind"], "requires");
    let stock: Vec<(String, Value)> = d["option_stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["option_id"].as_str().unwrap().to_owned(),
                o["sellable"].clone(),
            )
        })
        .collect();
    assert!(
        stock.contains(&(m32.clone(), json!(0)))
            && stock.contains(&(m16, json!(10)))
            && stock.contains(&(g4080, Value::Null))
    );
    let kit = ok(app_get(&app, "/api/v1/store/products/KIT").await).await;
    assert_eq!(
        kit["skus"][0]["sellable"], 8,
        "a bundle's stock is its items'"
    );

    // A product patch; drafts leave the storefront.
    let p = ok(patch(
        &s,
        &app,
        "/api/v1/catalog/products/NB-X14",
        json!({ "status": "draft" }),
    )
    .await)
    .await;
    assert_eq!(p["status"], "draft");
    assert_eq!(
        app_get(&app, "/api/v1/store/products/NB-X14")
            .await
            .status(),
        404
    );
    assert_eq!(
        error_code(
            patch(
                &s,
                &app,
                "/api/v1/catalog/skus/NB-STORM",
                json!({ "status": "archived" })
            )
            .await,
            409
        )
        .await,
        "last_sku"
    );
    assert!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'catalog.%'"
        )
        .await
            >= 10
    );
}

async fn app_get(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::get(app.url(path)).await.unwrap()
}

#[tokio::test]
async fn only_commerce_writers_change_the_catalog() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    seed(&app, &admin).await;
    let marketing = app.user("marketing", None).await;
    let body = json!({ "code": "P9", "category": "laptops", "name_zh": "a", "name_en": "a", "kind": "device", "price_fen": 1 });
    assert_eq!(
        error_code(
            marketing
                .post("/api/v1/catalog/products", body.clone())
                .await,
            403
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        error_code(
            marketing
                .post(
                    "/api/v1/catalog/stock/adjust",
                    json!({ "sku": "MOUSE", "location": "WH", "delta": 5, "reason": "receipt" })
                )
                .await,
            403
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        marketing.get("/api/v1/catalog/products").await.status(),
        200,
        "marketing reads"
    );
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    assert!(matches!(
        customer
            .post("/api/v1/catalog/products", body.clone())
            .await
            .status()
            .as_u16(),
        401 | 403
    ));
    assert_eq!(
        reqwest::Client::new()
            .post(app.url("/api/v1/catalog/products"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM products WHERE code = 'P9'").await,
        0
    );
}

#[tokio::test]
async fn the_storefront_searches_filters_and_sorts() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let codes = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["code"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let list = ok(app_get(
        &app,
        "/api/v1/store/products?category=laptops&sort=price_desc",
    )
    .await)
    .await;
    assert_eq!(codes(&list), ["NB-STORM", "NB-X14"]);
    let list = ok(app_get(&app, "/api/v1/store/products?q=aurora").await).await;
    assert_eq!(codes(&list), ["NB-X14"], "case-insensitive");
    let list = ok(app_get(&app, "/api/v1/store/products?q=THIN").await).await;
    assert_eq!(codes(&list), ["NB-X14"], "description");
    let list = ok(app_get(&app, "/api/v1/store/products?q=ram-32").await).await;
    assert_eq!(codes(&list), ["RAM"], "SKU codes");
    let list = ok(app_get(&app, "/api/v1/store/products?attr.use=gaming").await).await;
    assert_eq!(codes(&list), ["NB-STORM"]);
    let list = ok(app_get(
        &app,
        "/api/v1/store/products?min_price=50000&max_price=700000&sort=price_asc",
    )
    .await)
    .await;
    assert_eq!(codes(&list), ["RAM", "NB-X14"]);
    let list = ok(app_get(
        &app,
        "/api/v1/store/products?sort=price_asc&limit=2&offset=1",
    )
    .await)
    .await;
    assert_eq!(
        (list["total"].as_u64(), codes(&list)),
        (Some(4), vec!["RAM".to_owned(), "NB-X14".to_owned()])
    );
    assert_eq!(
        app_get(&app, "/api/v1/store/products?sort=random")
            .await
            .status(),
        400
    );

    // Pages: the configurator lists its options, search finds, categories filter.
    let opt =
        json!({ "code": "4070", "name_zh": "RTX 4070", "name_en": "RTX 4070", "is_default": true });
    ok(s.post(
        "/api/v1/catalog/products/NB-STORM/option-groups/gpu/options",
        opt,
    )
    .await)
    .await;
    let page = app_get(&app, "/p/NB-STORM").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("id=\"configurator\"")
            && body.contains("data-group=\"gpu\"")
            && body.contains("RTX 4070")
    );
    assert!(body.contains("/api/v1/me/cart"));
    assert_eq!(app_get(&app, "/p/NOPE").await.status(), 404);
    let body = app_get(&app, "/search?q=storm").await.text().await.unwrap();
    assert!(
        body.contains("data-product=\"NB-STORM\"") && !body.contains("data-product=\"NB-X14\"")
    );
    let body = app_get(&app, "/c/laptops?attr.use=office&sort=newest")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("data-product=\"NB-X14\"") && !body.contains("data-product=\"NB-STORM\"")
    );
    let body = app_get(&app, "/").await.text().await.unwrap();
    assert!(body.contains("id=\"campaigns\"") && body.contains("href=\"/p/"));
}

#[tokio::test]
async fn csv_round_trips_and_a_bad_file_is_refused_whole() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let db = app.db();
    let exported = s
        .get("/api/v1/catalog/products.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        exported.starts_with("product_code,category_code"),
        "{exported}"
    );
    assert!(exported.contains("screen=14;use=office"));
    let report = ok(post_csv(&s, &app, "/api/v1/catalog/products.csv", &exported).await).await;
    assert_eq!(
        (
            report["products_updated"].as_u64(),
            report["skus_updated"].as_u64(),
            report["skus_created"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(report["unchanged"].as_u64(), report["rows"].as_u64());

    let header = exported.lines().next().unwrap();
    let file = format!("{header}\nNEW-1,accessories,新品,New,accessory,active,color=black,0,,NEW-1,新品,New,9900,active\nMOUSE,accessories,静音鼠标,Silent Mouse,accessory,active,,0,,MOUSE,静音鼠标,Silent Mouse,11900,active\n");
    let report = ok(post_csv(&s, &app, "/api/v1/catalog/products.csv", &file).await).await;
    assert_eq!(
        (
            report["products_created"].as_u64(),
            report["skus_updated"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let report = ok(post_csv(&s, &app, "/api/v1/catalog/products.csv", &file).await).await;
    assert_eq!(
        report["unchanged"], 2,
        "re-import changes nothing: {report}"
    );
    assert_eq!(
        count(db, "SELECT price_fen FROM products WHERE code = 'MOUSE'").await,
        11_900
    );

    let before = count(db, "SELECT COUNT(*) FROM skus").await;
    let bad = format!("{header}\nNEW-2,accessories,a,A,accessory,active,,0,,NEW-2,a,A,100,active\nNEW-3,nowhere,b,B,accessory,active,,0,,NEW-3,b,B,100,active\nNEW-4,accessories,c,C,accessory,active,oops,0,,NEW-4,c,C,-1,active\nNEW-5,accessories,d,D,accessory,active,,0,,NEW-2,d,D,100,active\n");
    let r = post_csv(&s, &app, "/api/v1/catalog/products.csv", &bad).await;
    assert_eq!(r.status(), 422);
    let report: Value = r.json().await.unwrap();
    let errors: Vec<(u64, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, "unknown_category".to_owned()),
            (4, "invalid_attribute".to_owned()),
            (5, "duplicate_sku".to_owned())
        ]
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM skus").await,
        before,
        "nothing written"
    );

    // Stock: export, re-import unchanged, a changed count is a movement.
    let stock = s
        .get("/api/v1/catalog/stock.csv")
        .await
        .text()
        .await
        .unwrap();
    let report = ok(post_csv(&s, &app, "/api/v1/catalog/stock.csv", &stock).await).await;
    assert_eq!(report["changed"], 0, "{report}");
    let moves = count(db, "SELECT COUNT(*) FROM stock_movements").await;
    let report = ok(post_csv(
        &s,
        &app,
        "/api/v1/catalog/stock.csv",
        "sku_code,location_code,on_hand\nMOUSE,WH,25\n",
    )
    .await)
    .await;
    assert_eq!(report["changed"], 1);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM stock_movements").await,
        moves + 1
    );
    let r = post_csv(
        &s,
        &app,
        "/api/v1/catalog/stock.csv",
        "sku_code,location_code,on_hand\nMOUSE,WH,3\nNOPE,WH,1\nMOUSE,XX,1\n",
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(count(db, "SELECT on_hand FROM stock_levels k JOIN skus s ON s.id = k.sku_id WHERE s.code = 'MOUSE'").await, 25);
}

#[tokio::test]
async fn stock_changes_are_movements_and_never_go_below_reserved() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let db = app.db();
    let adjust = |delta: i64, reason: &str| json!({ "sku": "MOUSE", "location": "WH", "delta": delta, "reason": reason, "reference": "PO-1" });
    let level = ok(s
        .post("/api/v1/catalog/stock/adjust", adjust(20, "receipt"))
        .await)
    .await;
    assert_eq!(
        (level["on_hand"].as_i64(), level["sellable"].as_i64()),
        (Some(50), Some(50))
    );
    let again = ok(s
        .post("/api/v1/catalog/stock/adjust", adjust(20, "receipt"))
        .await)
    .await;
    assert_eq!(again["on_hand"], 50, "a retried receipt is applied once");
    assert_eq!(
        error_code(
            s.post("/api/v1/catalog/stock/adjust", adjust(-1, "receipt"))
                .await,
            400
        )
        .await,
        "invalid_delta"
    );
    assert_eq!(
        error_code(
            s.post("/api/v1/catalog/stock/adjust", adjust(1, "theft"))
                .await,
            400
        )
        .await,
        "invalid_reason"
    );
    assert_eq!(
        error_code(
            s.post(
                "/api/v1/catalog/stock/adjust",
                json!({ "sku": "MOUSE", "location": "NOPE", "delta": 1, "reason": "receipt" })
            )
            .await,
            400
        )
        .await,
        "unknown_location"
    );

    // Orders hold 40: damage may take on hand to 40, not below.
    sqlx::query("UPDATE stock_levels SET reserved = 40 WHERE sku_id = (SELECT id FROM skus WHERE code = 'MOUSE')")
        .execute(db.pool()).await.unwrap();
    let moves = count(db, "SELECT COUNT(*) FROM stock_movements").await;
    assert_eq!(
        error_code(
            s.post("/api/v1/catalog/stock/adjust", adjust(-11, "damage"))
                .await,
            409
        )
        .await,
        "stock_below_reserved"
    );
    assert_eq!(
        error_code(
            s.post(
                "/api/v1/catalog/stock/set",
                json!({ "sku": "MOUSE", "location": "WH", "on_hand": 39 })
            )
            .await,
            409
        )
        .await,
        "stock_below_reserved"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM stock_movements").await,
        moves
    );
    let level = ok(s
        .post("/api/v1/catalog/stock/adjust", adjust(-10, "damage"))
        .await)
    .await;
    assert_eq!(
        (
            level["on_hand"].as_i64(),
            level["reserved"].as_i64(),
            level["sellable"].as_i64()
        ),
        (Some(40), Some(40), Some(0))
    );

    let movements = ok(s.get("/api/v1/catalog/stock/movements?sku=MOUSE").await).await;
    let deltas: Vec<(i64, String)> = movements
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["delta"].as_i64().unwrap(),
                m["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        deltas,
        [
            (-10, "damage".to_owned()),
            (20, "receipt".to_owned()),
            (30, "count".to_owned())
        ]
    );
    let low = ok(s.get("/api/v1/catalog/stock/low?threshold=0").await).await;
    let low: Vec<&str> = low
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku_code"].as_str().unwrap())
        .collect();
    assert!(
        low.contains(&"MOUSE") && low.contains(&"RAM-32") && !low.contains(&"NB-STORM"),
        "{low:?}"
    );
    let levels = ok(s.get("/api/v1/catalog/stock?low=0").await).await;
    assert!(levels
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["sellable"].as_i64().unwrap() <= 0));

    // A store location names an existing store.
    assert_eq!(
        error_code(
            s.post(
                "/api/v1/catalog/locations",
                json!({ "code": "ST-1", "name": "Store", "kind": "store" })
            )
            .await,
            400
        )
        .await,
        "store_required"
    );
    assert_eq!(
        error_code(
            s.post(
                "/api/v1/catalog/locations",
                json!({ "code": "ST-1", "name": "Store", "kind": "store", "store_code": "SH-99" })
            )
            .await,
            400
        )
        .await,
        "unknown_store"
    );
}

#[tokio::test]
async fn console_pages_show_the_catalog_and_stock() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let opt =
        json!({ "code": "4070", "name_zh": "RTX 4070", "name_en": "RTX 4070", "is_default": true });
    ok(s.post(
        "/api/v1/catalog/products/NB-STORM/option-groups/gpu/options",
        opt,
    )
    .await)
    .await;

    let body = s
        .get("/admin/commerce/products?q=storm")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("data-product=\"NB-STORM\"") && !body.contains("data-product=\"NB-X14\"")
    );
    assert!(body.contains("id=\"create-product\"") && body.contains("id=\"import-products\""));
    let body = s
        .get("/admin/commerce/products?status=draft")
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("data-product=\"NB-STORM\""));
    let body = s
        .get("/admin/commerce/products/NB-STORM")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("data-group=\"gpu\"")
            && body.contains("data-option=\"4070\"")
            && body.contains("id=\"add-rule\"")
    );
    let body = s
        .get("/admin/commerce/stock?sku=MOUSE")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("data-sku=\"MOUSE\"") && !body.contains("data-sku=\"RAM\""));
    assert!(body.contains("id=\"low-stock\"") && body.contains("RAM-32"));
    assert_eq!(s.get("/admin/commerce/products/NOPE").await.status(), 404);

    // Readers see the pages without the forms; others are refused.
    let marketing = app.user("marketing", None).await;
    let body = marketing
        .get("/admin/commerce/products")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("data-product=\"NB-STORM\"") && !body.contains("id=\"create-product\""));
    let engineer = app.user("field_engineer", None).await;
    assert_eq!(engineer.get("/admin/commerce/stock").await.status(), 403);
}

#[tokio::test]
async fn concurrent_removals_never_take_stock_below_reserved() {
    let (app, _db) = TestApp::spawn().await;
    let s = app.user("store_manager", None).await;
    seed(&app, &s).await;
    let db = app.db();
    // 30 on hand, 20 reserved: 10 units may go, whoever asks first.
    sqlx::query("UPDATE stock_levels SET reserved = 20 WHERE sku_id = (SELECT id FROM skus WHERE code = 'MOUSE')")
        .execute(db.pool())
        .await
        .unwrap();
    let before = count(db, "SELECT COUNT(*) FROM stock_movements").await;
    let tries = (0..16).map(|i| {
        s.post(
            "/api/v1/catalog/stock/adjust",
            json!({ "sku": "MOUSE", "location": "WH", "delta": -1, "reason": "damage", "reference": format!("DMG-{i}") }),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        count(db, "SELECT on_hand FROM stock_levels k JOIN skus s ON s.id = k.sku_id WHERE s.code = 'MOUSE'").await,
        20
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM stock_movements").await,
        before + 10
    );
}
