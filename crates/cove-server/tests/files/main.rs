//! Uploaded files: types told by magic bytes, the size limit, one copy of
//! the same bytes, and who may read what (product images are public, ticket
//! attachments are the ticket's customer's and the service team's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use common::{count, error_code, CustomerClient, Session, TestApp, TestDb};
use cove_core::jobs::Registry;
use reqwest::multipart::{Form, Part};
use reqwest::Response;
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
const HTML: &[u8] = b"<html><script>alert(1)</script></html>";

fn form(name: &str, claimed_type: &str, bytes: &[u8], purpose: Option<&str>) -> Form {
    let part = Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str(claimed_type)
        .unwrap();
    let form = Form::new().part("file", part);
    match purpose {
        Some(p) => form.text("purpose", p.to_owned()),
        None => form,
    }
}

async fn customer_upload(app: &TestApp, c: &CustomerClient, form: Form) -> Response {
    c.client
        .post(app.url("/api/v1/me/files"))
        .bearer_auth(&c.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn staff_upload(app: &TestApp, s: &Session, form: Form) -> Response {
    s.client
        .post(app.url("/api/v1/files"))
        .header("x-csrf-token", &s.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn json_of(response: Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

async fn anonymous_get(app: &TestApp, path: &str) -> Response {
    reqwest::get(app.url(path)).await.unwrap()
}

#[tokio::test]
async fn types_come_from_the_bytes_not_the_client() {
    let (app, _db) = TestApp::spawn().await;
    let c = app.customer(&app.new_profile().await).await;

    // A PNG sent as a "PDF" is stored and served as the PNG it is.
    let png = json_of(
        customer_upload(&app, &c, form("receipt.pdf", "application/pdf", PNG, None)).await,
        201,
    )
    .await;
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["name"], "receipt.pdf");
    assert_eq!(png["size"], PNG.len());
    assert_eq!(png["purpose"], "ticket_attachment");
    for (bytes, expected) in [(JPEG, "image/jpeg"), (PDF, "application/pdf")] {
        let f = json_of(
            customer_upload(
                &app,
                &c,
                form("x.bin", "application/octet-stream", bytes, None),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(f["content_type"], expected);
    }

    // HTML dressed as a photo is refused, as is nothing at all.
    let r = customer_upload(&app, &c, form("photo.jpg", "image/jpeg", HTML, None)).await;
    assert_eq!(error_code(r, 415).await, "unsupported_file_type");
    let r = customer_upload(&app, &c, form("photo.jpg", "image/jpeg", b"", None)).await;
    assert_eq!(error_code(r, 400).await, "empty_file");
    let no_file = Form::new().text("purpose", "ticket_attachment");
    let r = customer_upload(&app, &c, no_file).await;
    assert_eq!(error_code(r, 400).await, "missing_file");
    let r = c
        .post("/api/v1/me/files", json!({"file": "aGVsbG8="}))
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_multipart");

    // Refused uploads leave nothing behind.
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM files").await, 3);
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM file_blobs").await, 3);
}

#[tokio::test]
async fn uploads_over_the_configured_limit_are_refused() {
    let db = TestDb::new().await;
    let mut config = db.config();
    config.files.max_bytes = 64 * 1024;
    let app = TestApp::start(config, Registry::new()).await;
    let c = app.customer(&app.new_profile().await).await;

    let mut big = PNG.to_vec();
    big.resize(64 * 1024 + 1, 0);
    let r = customer_upload(&app, &c, form("big.png", "image/png", &big, None)).await;
    assert_eq!(error_code(r, 413).await, "file_too_large");
    big.truncate(64 * 1024);
    let r = customer_upload(&app, &c, form("fits.png", "image/png", &big, None)).await;
    json_of(r, 201).await;
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM files").await, 1);

    // The default limit is 10 MB, above the 1 MB limit of JSON bodies.
    let (plain, _db) = TestApp::spawn().await;
    let c = plain.customer(&plain.new_profile().await).await;
    let mut photo = JPEG.to_vec();
    photo.resize(3 * 1024 * 1024, 7);
    let r = customer_upload(&plain, &c, form("phone.jpg", "image/jpeg", &photo, None)).await;
    let f = json_of(r, 201).await;
    let served = c.get(f["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().len(), photo.len());
}

#[tokio::test]
async fn the_same_bytes_are_stored_once() {
    let (app, _db) = TestApp::spawn().await;
    let a = app.customer(&app.new_profile().await).await;
    let b = app.customer(&app.new_profile().await).await;
    let first = json_of(
        customer_upload(&app, &a, form("a.pdf", "application/pdf", PDF, None)).await,
        201,
    )
    .await;
    let second = json_of(
        customer_upload(&app, &b, form("b.pdf", "application/pdf", PDF, None)).await,
        201,
    )
    .await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(first["sha256"], second["sha256"]);

    // Many uploads of other bytes at once still keep one copy.
    let uploads = (0..8).map(|i| {
        customer_upload(
            &app,
            if i % 2 == 0 { &a } else { &b },
            form("same.png", "image/png", PNG, None),
        )
    });
    for r in futures_util::future::join_all(uploads).await {
        assert_eq!(r.status(), 201);
    }
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM files").await, 10);
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM file_blobs").await, 2);
    let served = b.get(second["url"].as_str().unwrap()).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), PDF);
}

#[tokio::test]
async fn attachments_are_for_their_customer_and_the_service_team() {
    let (app, _db) = TestApp::spawn().await;
    let owner = app.customer(&app.new_profile().await).await;
    let other = app.customer(&app.new_profile().await).await;
    let agent = app.user("service_agent", None).await;
    let marketer = app.user("marketing", None).await;

    let photo = json_of(
        customer_upload(&app, &owner, form("screen.png", "image/png", PNG, None)).await,
        201,
    )
    .await;
    let url = photo["url"].as_str().unwrap().to_owned();

    let mine = owner.get(&url).await;
    assert_eq!(mine.status(), 200);
    let h = mine.headers();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["cache-control"].to_str().unwrap().starts_with("private"));
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(
        h["content-disposition"],
        "inline; filename*=UTF-8''screen.png"
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", photo["sha256"].as_str().unwrap()));
    assert_eq!(mine.bytes().await.unwrap().as_ref(), PNG);
    let again = owner
        .client
        .get(app.url(&url))
        .bearer_auth(&owner.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    assert_eq!(other.get(&url).await.status(), 404);
    assert_eq!(anonymous_get(&app, &url).await.status(), 404);
    assert_eq!(marketer.get(&url).await.status(), 404);
    assert_eq!(agent.get(&url).await.status(), 200);
    assert_eq!(
        anonymous_get(&app, "/files/0190a0a0-0000-7000-8000-000000000000/x.png")
            .await
            .status(),
        404
    );

    // Another customer cannot attach the file to their own ticket.
    let stolen = other
        .post(
            "/api/v1/me/tickets",
            json!({"kind": "after_sales", "subject": "Screen", "body": "Broken",
                   "attachments": [{"url": url}]}),
        )
        .await;
    assert_eq!(error_code(stolen, 400).await, "file_not_yours");
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM tickets").await, 0);

    // The owner attaches it by URL; name, size and type come from the upload.
    let ticket = json_of(
        owner
            .post(
                "/api/v1/me/tickets",
                json!({"kind": "after_sales", "subject": "Screen flickers", "body": "See the photo",
                       "attachments": [{"url": url, "name": "lie.exe", "size": 1, "content_type": "text/html"}]}),
            )
            .await,
        201,
    )
    .await;
    let id = ticket["id"].as_str().unwrap();
    let detail = json_of(agent.get(&format!("/api/v1/tickets/{id}")).await, 200).await;
    let attached = &detail["messages"][0]["attachments"][0];
    assert_eq!(attached["name"], "screen.png");
    assert_eq!(attached["content_type"], "image/png");
    assert_eq!(attached["size"], PNG.len());

    // The agent's public attachment reaches the customer; a note's does not.
    let manual = json_of(
        staff_upload(
            &app,
            &agent,
            form("manual.pdf", "application/pdf", PDF, None),
        )
        .await,
        201,
    )
    .await;
    let log = json_of(
        staff_upload(&app, &agent, form("log.png", "image/png", JPEG, None)).await,
        201,
    )
    .await;
    for (file, internal) in [(&manual, false), (&log, true)] {
        let r = agent
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                json!({"body": "Here", "internal": internal, "attachments": [{"url": file["url"]}]}),
            )
            .await;
        json_of(r, 201).await;
    }
    let manual_url = manual["url"].as_str().unwrap();
    let log_url = log["url"].as_str().unwrap();
    assert_eq!(owner.get(manual_url).await.status(), 200);
    assert_eq!(owner.get(log_url).await.status(), 404);
    assert_eq!(other.get(manual_url).await.status(), 404);

    // Attachments that name no upload still need the old details.
    let r = owner
        .post(
            &format!("/api/v1/me/tickets/{id}/messages"),
            json!({"body": "x", "attachments": [{"url": "javascript:alert(1)"}]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_attachment");
    let r = owner
        .post(
            &format!("/api/v1/me/tickets/{id}/messages"),
            json!({"body": "x", "attachments": [{"url": "/files/0190a0a0-0000-7000-8000-000000000000/x.png"}]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "unknown_file");
}

#[tokio::test]
async fn product_images_are_public_and_need_catalog_rights() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("store_manager", None).await;
    let agent = app.user("service_agent", None).await;

    let r = staff_upload(
        &app,
        &agent,
        form("p.png", "image/png", PNG, Some("product_image")),
    )
    .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = staff_upload(
        &app,
        &manager,
        form("p.png", "image/png", PNG, Some("ticket_attachment")),
    )
    .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = staff_upload(
        &app,
        &manager,
        form("p.png", "image/png", PNG, Some("avatar")),
    )
    .await;
    assert_eq!(error_code(r, 400).await, "invalid_purpose");

    let image = json_of(
        staff_upload(
            &app,
            &manager,
            form(
                "极光 14 正面.webp",
                "image/webp",
                PNG,
                Some("product_image"),
            ),
        )
        .await,
        201,
    )
    .await;
    let url = image["url"].as_str().unwrap();
    assert!(
        url.ends_with("/%E6%9E%81%E5%85%89%2014%20%E6%AD%A3%E9%9D%A2.webp"),
        "{url}"
    );
    let served = anonymous_get(&app, url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(
        served.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

    // Customers upload only attachments, whatever they ask for.
    let c = app.customer(&app.new_profile().await).await;
    let f = json_of(
        customer_upload(
            &app,
            &c,
            form("p.png", "image/png", PNG, Some("product_image")),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(f["purpose"], "ticket_attachment");
    assert_eq!(
        anonymous_get(&app, f["url"].as_str().unwrap())
            .await
            .status(),
        404
    );
    // Uploading needs a signed-in customer.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/me/files"))
        .multipart(form("p.png", "image/png", PNG, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The laptops category with product NB-X14, made by a store manager.
async fn laptop_x14(manager: &Session) {
    let r = manager
        .post(
            "/api/v1/catalog/categories",
            json!({ "code": "laptops", "name_zh": "笔记本", "name_en": "Laptops", "position": 1 }),
        )
        .await;
    assert!(r.status().is_success());
    let r = manager
        .post(
            "/api/v1/catalog/products",
            json!({ "code": "NB-X14", "category": "laptops", "name_zh": "极光 X14", "name_en": "Aurora X14",
                    "kind": "device", "price_fen": 699_900 }),
        )
        .await;
    assert!(r.status().is_success());
}

#[tokio::test]
async fn product_images_show_in_the_storefront_in_their_order() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("store_manager", None).await;
    laptop_x14(&manager).await;
    let mut urls = Vec::new();
    for (name, bytes) in [("front.png", PNG), ("side.jpg", JPEG)] {
        let f = json_of(
            staff_upload(
                &app,
                &manager,
                form(name, "image/png", bytes, Some("product_image")),
            )
            .await,
            201,
        )
        .await;
        urls.push(f["url"].as_str().unwrap().to_owned());
    }
    let patch = |images: Value| {
        manager
            .client
            .patch(app.url("/api/v1/catalog/products/NB-X14"))
            .header("x-csrf-token", &manager.csrf)
            .json(&json!({ "images": images }))
            .send()
    };
    // Reordered: the side view is the cover.
    let r = patch(json!([urls[1], urls[0]])).await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let page = anonymous_get(&app, "/p/NB-X14").await.text().await.unwrap();
    let side = page
        .find(&format!("src=\"{}\"", urls[1]))
        .expect("side image on the page");
    let front = page
        .find(&format!("src=\"{}\"", urls[0]))
        .expect("front image on the page");
    assert!(side < front, "images keep their order");
    let list = anonymous_get(&app, "/c/laptops")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("src=\"{}\"", urls[1])),
        "the cover is on the card"
    );
    assert!(!list.contains(&urls[0]));
    let home = anonymous_get(&app, "/").await.text().await.unwrap();
    assert!(home.contains(&format!("src=\"{}\"", urls[1])));

    // A customer's private attachment cannot become a product image.
    let c = app.customer(&app.new_profile().await).await;
    let private = json_of(
        customer_upload(&app, &c, form("me.png", "image/png", PNG, None)).await,
        201,
    )
    .await;
    let r = patch(json!([private["url"]])).await.unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_image");
    let page = anonymous_get(&app, "/p/NB-X14").await.text().await.unwrap();
    assert!(page.contains(&urls[1]));

    // The console editor shows the images and the upload control.
    let editor = manager
        .get("/admin/commerce/products/NB-X14")
        .await
        .text()
        .await
        .unwrap();
    assert!(editor.contains("id=\"image-upload\""));
    assert!(editor.contains(&urls[1]));
}

#[tokio::test]
async fn a_customer_uploads_within_a_daily_quota() {
    let db = TestDb::new().await;
    let mut config = db.config();
    let quota = PNG.len() + JPEG.len() + 8;
    config.files.customer_daily_bytes = quota as u64;
    let app = TestApp::start(config, Registry::new()).await;
    let c = app.customer(&app.new_profile().await).await;
    let other = app.customer(&app.new_profile().await).await;

    json_of(
        customer_upload(&app, &c, form("a.png", "image/png", PNG, None)).await,
        201,
    )
    .await;
    json_of(
        customer_upload(&app, &c, form("b.jpg", "image/jpeg", JPEG, None)).await,
        201,
    )
    .await;
    let over = customer_upload(&app, &c, form("c.pdf", "application/pdf", PDF, None)).await;
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(over, 429).await, "upload_quota_exceeded");
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM files").await, 2);

    // Another customer and the staff have their own room.
    json_of(
        customer_upload(&app, &other, form("c.pdf", "application/pdf", PDF, None)).await,
        201,
    )
    .await;
    let agent = app.user("service_agent", None).await;
    json_of(
        staff_upload(&app, &agent, form("d.pdf", "application/pdf", PDF, None)).await,
        201,
    )
    .await;

    // Concurrent uploads past the quota: only what fits is stored.
    let fresh = app.customer(&app.new_profile().await).await;
    let racing =
        (0..6).map(|_| customer_upload(&app, &fresh, form("r.png", "image/png", PNG, None)));
    let statuses: Vec<u16> = futures_util::future::join_all(racing)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let fits = quota / PNG.len();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        fits,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        6 - fits,
        "{statuses:?}"
    );

    // A day later the window has room again.
    sqlx::query("UPDATE files SET created_at = created_at - $1")
        .bind(cove_core::clock::DAY + cove_core::clock::SECOND)
        .execute(app.db().pool())
        .await
        .unwrap();
    json_of(
        customer_upload(&app, &c, form("c.pdf", "application/pdf", PDF, None)).await,
        201,
    )
    .await;
}

/// Makes an upload look `hours` old.
async fn age(app: &TestApp, file: &Value, hours: i64) {
    sqlx::query("UPDATE files SET created_at = $2 WHERE id = $1")
        .bind(file["id"].as_str().unwrap())
        .bind(cove_core::clock::now() - hours * cove_core::clock::HOUR)
        .execute(app.db().pool())
        .await
        .unwrap();
}

async fn exists(app: &TestApp, file: &Value) -> bool {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE id = $1")
        .bind(file["id"].as_str().unwrap())
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    n == 1
}

async fn blob_exists(app: &TestApp, bytes: &[u8]) -> bool {
    use sha2::Digest;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM file_blobs WHERE sha256 = $1")
        .bind(
            sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        )
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    n == 1
}

#[tokio::test]
async fn uploads_attached_to_nothing_are_deleted_after_a_day() {
    let (app, _db) = TestApp::spawn().await;
    let owner = app.customer(&app.new_profile().await).await;
    let manager = app.user("store_manager", None).await;
    let upload = |bytes: &'static [u8], name: &'static str| {
        let owner = &owner;
        let app = &app;
        async move {
            json_of(
                customer_upload(app, owner, form(name, "image/png", bytes, None)).await,
                201,
            )
            .await
        }
    };
    // Attached to a ticket; an orphan sharing its bytes; an orphan of its
    // own; a recent orphan; a product's image and a product image never used.
    let attached = upload(PNG, "attached.png").await;
    let same_bytes = upload(PNG, "copy.png").await;
    let orphan = upload(PDF, "orphan.pdf").await;
    let recent = upload(JPEG, "recent.jpg").await;
    json_of(
        owner
            .post(
                "/api/v1/me/tickets",
                json!({"kind": "after_sales", "subject": "屏幕", "body": "见附件",
                       "attachments": [{"url": attached["url"]}]}),
            )
            .await,
        201,
    )
    .await;
    laptop_x14(&manager).await;
    const GIF: &[u8] = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!";
    let image = json_of(
        staff_upload(
            &app,
            &manager,
            form("front.gif", "image/gif", GIF, Some("product_image")),
        )
        .await,
        201,
    )
    .await;
    let mut unused_bytes = GIF.to_vec();
    unused_bytes.push(1);
    let unused_image = json_of(
        staff_upload(
            &app,
            &manager,
            form(
                "spare.gif",
                "image/gif",
                &unused_bytes,
                Some("product_image"),
            ),
        )
        .await,
        201,
    )
    .await;
    let r = manager
        .client
        .patch(app.url("/api/v1/catalog/products/NB-X14"))
        .header("x-csrf-token", &manager.csrf)
        .json(&json!({ "images": [image["url"]] }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    for f in [&attached, &same_bytes, &orphan, &image, &unused_image] {
        age(&app, f, 25).await;
    }
    age(&app, &recent, 23).await;

    let deleted = cove_core::files::sweep_unattached(app.db(), cove_core::clock::now())
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    assert!(
        exists(&app, &attached).await && exists(&app, &image).await && exists(&app, &recent).await
    );
    assert!(
        !exists(&app, &same_bytes).await
            && !exists(&app, &orphan).await
            && !exists(&app, &unused_image).await
    );
    // Bytes go only when no upload is left that holds them.
    assert!(blob_exists(&app, PNG).await && blob_exists(&app, GIF).await);
    assert!(!blob_exists(&app, PDF).await && !blob_exists(&app, &unused_bytes).await);
    let served = owner.get(attached["url"].as_str().unwrap()).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(
        owner.get(orphan["url"].as_str().unwrap()).await.status(),
        404
    );

    // The durable job does the same once the recent upload is old enough;
    // a second run finds nothing more.
    age(&app, &recent, 25).await;
    let mut tx = app.db().begin().await.unwrap();
    cove_core::jobs::enqueue(
        &mut tx,
        cove_core::jobs::NewJob::new(cove_core::files::SWEEP_JOB, json!({})),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let gone = common::eventually(10, || async { !exists(&app, &recent).await }).await;
    assert!(gone, "the sweep job deleted the old upload");
    assert!(exists(&app, &attached).await && exists(&app, &image).await);
    let schedules = count(
        app.db(),
        "SELECT COUNT(*) FROM schedules WHERE name = 'files.sweep.hourly'",
    )
    .await;
    assert_eq!(schedules, 1);
}
