//! The staff API and the storefront device page over HTTP.

use crate::common::{count, error_code, TestApp};
use crate::fixtures::{catalog, date, member, LAPTOP};
use crate::ownership::{bind_by_qr, key};
use cove_core::clock::{self, DAY};
use cove_core::service::qr::parse_scan;
use cove_core::service::ServiceTag;
use serde_json::{json, Value};

fn csv(rows: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("service_tag,model,serial,shipped_on,sales_channel,region\n");
    for (tag, model, shipped) in rows {
        out.push_str(&format!("{tag},{model},SN-{tag},{shipped},retail,CN\n"));
    }
    out
}

#[tokio::test]
async fn staff_import_a_factory_csv_idempotently_and_bad_files_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let agent = app.user("service_agent", None).await;
    let marketing = app.user("marketing", None).await;
    let shipped = date(clock::now() - 7 * DAY);
    let body = csv(&[("CSV0001", LAPTOP, &shipped), ("CSV0002", LAPTOP, &shipped)]);
    let post = |who: &crate::common::Session, body: String, partial: bool| {
        who.client
            .post(app.url(&format!(
                "/api/v1/service/devices/import.csv?partial={partial}"
            )))
            .header("x-csrf-token", &who.csrf)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(post(&marketing, body.clone(), false).await.unwrap(), 403).await,
        "forbidden"
    );

    let first = post(&agent, body.clone(), false).await.unwrap();
    assert_eq!(first.status(), 200);
    let report: Value = first.json().await.unwrap();
    assert_eq!(
        (report["inserted"].as_u64(), report["committed"].as_bool()),
        (Some(2), Some(true))
    );
    let again: Value = post(&agent, body, false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM audit_log WHERE action = 'device.import'"
        )
        .await,
        1
    );

    // One malformed line rejects the file, with its row number and code.
    let bad = format!(
        "{}CSV0004,{LAPTOP},SN-4,{shipped},retail\n",
        csv(&[("CSV0003", LAPTOP, &shipped)])
    );
    let rejected = post(&agent, bad.clone(), false).await.unwrap();
    assert_eq!(rejected.status(), 422);
    let report: Value = rejected.json().await.unwrap();
    assert_eq!(report["code"], "import_rejected");
    assert_eq!(report["errors"][0]["row"], 2);
    assert_eq!(report["errors"][0]["code"], "invalid_csv_row");
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM devices").await, 2);
    let partial: Value = post(&agent, bad, true).await.unwrap().json().await.unwrap();
    assert_eq!(
        (partial["inserted"].as_u64(), partial["rejected"].as_u64()),
        (Some(1), Some(1))
    );

    let no_header = post(&agent, "CSV0009,AURORA-14\n".into(), false)
        .await
        .unwrap();
    assert_eq!(error_code(no_header, 400).await, "invalid_csv");

    // The JSON form works alike.
    let json_import = agent
        .post(
            "/api/v1/service/devices/import",
            json!({ "rows": [{ "service_tag": "json001", "model": LAPTOP, "serial": "SN-J1", "shipped_on": shipped, "sales_channel": "direct", "region": "cn" }] }),
        )
        .await;
    assert_eq!(json_import.status(), 200);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM devices WHERE service_tag = 'JSON001' AND region = 'CN'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn staff_look_devices_up_print_their_codes_and_grant_entitlements() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let agent = app.user("service_agent", None).await;
    let shipped = date(clock::now() - 7 * DAY);
    agent
        .post(
            "/api/v1/service/devices/import",
            json!({ "rows": [
                { "service_tag": "LOOK001", "model": LAPTOP, "serial": "SN-L1", "shipped_on": shipped, "sales_channel": "direct", "region": "CN" },
                { "service_tag": "LOOK002", "model": LAPTOP, "serial": "SN-L2", "shipped_on": shipped, "sales_channel": "direct", "region": "CN" }
            ] }),
        )
        .await;

    let view: Value = agent
        .get("/api/v1/service/devices/look001")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["warranty"]["status"], "in_warranty");
    assert_eq!(view["warranty"]["device"]["model_code"], LAPTOP);
    let url = view["qr_url"].as_str().unwrap();
    let scan = parse_scan(url).unwrap();
    assert_eq!(scan.tag.as_str(), "LOOK001");
    assert!(key(&app)
        .await
        .verify(&scan.tag, scan.signature.as_deref().unwrap()));
    assert_eq!(
        error_code(agent.get("/api/v1/service/devices/LOOK-01").await, 400).await,
        "invalid_service_tag"
    );
    assert_eq!(
        error_code(agent.get("/api/v1/service/devices/NOPE000").await, 404).await,
        "device_not_found"
    );

    let png = agent.get("/api/v1/service/devices/LOOK001/qr.png").await;
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let svg = agent.get("/api/v1/service/devices/LOOK001/qr.svg").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    assert_eq!(
        error_code(
            agent.get("/api/v1/service/devices/NOPE000/qr.png").await,
            404
        )
        .await,
        "device_not_found"
    );

    let batch: Value = agent
        .post(
            "/api/v1/service/devices/qr-batch",
            json!({ "service_tags": ["LOOK001", "look002"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch.as_array().unwrap().len(), 2);
    assert_eq!(batch[1]["service_tag"], "LOOK002");
    assert!(batch[1]["svg"].as_str().unwrap().contains("<svg"));
    let unknown = agent
        .post(
            "/api/v1/service/devices/qr-batch",
            json!({ "service_tags": ["LOOK001", "NOPE000"] }),
        )
        .await;
    assert_eq!(error_code(unknown, 404).await, "device_not_found");

    let grant = json!({ "kind": "onsite", "months": 12, "origin": "purchased", "reference": "POS-778", "service_level": "nbd" });
    let created = agent
        .post(
            "/api/v1/service/devices/LOOK001/entitlements",
            grant.clone(),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["service_level"], "NBD");
    let replay: Value = agent
        .post("/api/v1/service/devices/LOOK001/entitlements", grant)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["id"], created["id"]);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM device_entitlements WHERE kind = 'onsite'"
        )
        .await,
        1
    );
    let bad = agent
        .post(
            "/api/v1/service/devices/LOOK001/entitlements",
            json!({ "kind": "gold", "months": 12, "origin": "purchased", "reference": "x" }),
        )
        .await;
    assert_eq!(error_code(bad, 422).await, "invalid_body");
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM audit_log WHERE action = 'device.entitlement_grant'"
        )
        .await,
        2
    );

    // The console's service desk shows the same device.
    let desk = agent.get("/admin/service?tag=look001").await;
    assert_eq!(desk.status(), 200);
    let desk = desk.text().await.unwrap();
    assert!(
        desk.contains("data-tag=\"LOOK001\"") && desk.contains("SN-L1") && desk.contains("POS-778")
    );
    assert!(desk.contains("/api/v1/service/devices/LOOK001/qr.svg"));
    let missing = agent
        .get("/admin/service?tag=NOPE000")
        .await
        .text()
        .await
        .unwrap();
    assert!(missing.contains("id=\"device-missing\"") && !missing.contains("data-tag="));
    let marketing = app.user("marketing", None).await;
    assert_eq!(
        marketing.get("/admin/service?tag=LOOK001").await.status(),
        403
    );

    let policy = agent
        .client
        .put(app.url(&format!("/api/v1/service/policies/{LAPTOP}")))
        .header("x-csrf-token", &agent.csrf)
        .json(&json!({ "base_months": 0, "service_level": "CI", "start_from": "ship", "activation_window_days": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(policy, 400).await, "invalid_policy");
}

#[tokio::test]
async fn a_scanned_code_opens_the_device_page_and_only_a_genuine_one_offers_binding() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = crate::fixtures::device(&app, "PAGE001", LAPTOP, 3).await;
    let url = key(&app).await.device_url(&app.base, &tag);
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("极光 14") && html.contains("PAGE001"));
    assert!(html.contains("id=\"warranty-status\"") && html.contains("保修期内"));
    assert!(
        html.contains("id=\"sign-in-to-bind\""),
        "a genuine code offers binding once signed in"
    );

    let forged = app
        .client
        .get(app.url("/d/PAGE001?s=AAAAAAAAAAA"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!forged.contains("sign-in-to-bind") && forged.contains("请扫描设备"));
    assert_eq!(
        app.client
            .get(app.url("/d/PAGE-01"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.client
            .get(app.url("/d/NOPE000"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let alice = member(&app, "Alice").await;
    bind_by_qr(&app, &ServiceTag::parse("PAGE001").unwrap(), &alice)
        .await
        .unwrap();
    let bound = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bound.contains("此设备已绑定会员") && !bound.contains("data-bind-url"));
}
