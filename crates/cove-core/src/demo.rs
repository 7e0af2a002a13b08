//! The demo brand: Aurora Computing (极光电脑), a fictional computer maker with
//! its stores, resellers, team, catalog, members, devices, orders and events
//! over the past three years. Deterministic for a given seed.

mod team;

use crate::db::Db;
use serde_json::{json, Value};

/// The password of every demo sign-in (demo data only).
pub const DEMO_PASSWORD: &str = "aurora-demo-2026";

pub struct Options {
    pub members: usize,
    pub seed: u64,
    /// Base URL printed in the summary and written to `demo.json`.
    pub public_url: String,
}

pub struct Report {
    /// What `demo.json` holds: URLs, sign-ins, keys, channel credentials.
    pub manifest: Value,
    /// What the command prints.
    pub summary: String,
}

/// Seeds the brand once; a second run leaves the data as it is and reports it again.
pub async fn seed(db: &Db, options: &Options) -> anyhow::Result<Report> {
    let already: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'demo.seeded'")
            .fetch_optional(db.pool())
            .await?;
    let started = std::time::Instant::now();
    if already.is_none() {
        team::seed(db, options).await?;
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('demo.seeded', $1, $2)")
            .bind(json!({ "members": options.members, "seed": options.seed }).to_string())
            .bind(crate::clock::now())
            .execute(db.pool())
            .await?;
    }
    let sign_ins = team::sign_ins();
    let url = options.public_url.trim_end_matches('/').to_owned();
    let manifest = json!({
        "brand": { "name_zh": "极光电脑", "name_en": "Aurora Computing" },
        "urls": {
            "console": format!("{url}/admin"),
            "storefront": format!("{url}/"),
            "api_docs": format!("{url}/api/docs"),
            "openapi": format!("{url}/openapi.json"),
        },
        "password": DEMO_PASSWORD,
        "sign_ins": sign_ins.iter().map(|(role, email)| json!({ "role": role, "email": email, "password": DEMO_PASSWORD })).collect::<Vec<_>>(),
    });
    let mut summary = String::new();
    if already.is_some() {
        summary.push_str("The demo brand was already seeded; its data is unchanged.\n");
    } else {
        summary.push_str(&format!(
            "Seeded Aurora Computing (极光电脑) in {:.1} s.\n",
            started.elapsed().as_secs_f64()
        ));
    }
    summary.push_str(&format!(
        "Console: {url}/admin   Storefront: {url}/   API: {url}/api/docs\n"
    ));
    summary.push_str(&format!(
        "Sign in with any of these (password {DEMO_PASSWORD}):\n"
    ));
    for (role, email) in &sign_ins {
        summary.push_str(&format!("  {role:<20} {email}\n"));
    }
    Ok(Report { manifest, summary })
}
