//! Wire compatibility with real Segment client libraries: the Python
//! `segment-analytics-python` and the npm `@segment/analytics-node`, pointed
//! at a Cove server, send identify/track/page/alias (gzip where the library
//! does), then resend the same messages as a retry. The peers live in
//! `peers/`; `scripts/test` installs them.

use crate::{identities, message_ids, Ingest};
use std::path::PathBuf;
use std::process::Stdio;

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ingest/peers")
}

async fn run_peer(program: &str, args: &[&str], install_hint: &str) -> String {
    let (cmd, argv) = (
        program.to_owned(),
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
    );
    // The server under test runs on this runtime: wait for the peer off it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(cmd)
            .args(argv)
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {program}: {e}\n{install_hint}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "peer {program} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}\n{install_hint}",
        output.status
    );
    stdout
}

/// The story both peers tell, checked on the server side.
async fn assert_story(t: &Ingest, prefix: &str, run: &str) {
    let user = format!("user_id:{prefix}-user-{run}");
    let profile = t
        .profile_of(&user)
        .await
        .unwrap_or_else(|| panic!("no profile for {user}"));
    let expected: Vec<String> = (1..=5).map(|i| format!("{prefix}-{run}-{i}")).collect();
    assert_eq!(
        message_ids(&profile),
        expected,
        "every call stored once, all on the identified profile (anonymous activity merged)"
    );
    assert_eq!(
        identities(&profile),
        [
            format!("anonymous_id:{prefix}-anon-{run}"),
            format!("anonymous_id:{prefix}-anon2-{run}"),
            format!("email:{prefix}-user-{run}@example.cn"),
            user.clone(),
        ]
    );
    assert_eq!(profile["traits"]["plan"], "member");
    let types: Vec<&str> = {
        let mut v: Vec<&str> = profile["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(types, ["alias", "identify", "page", "track", "track"]);
    let stored: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM raw_events WHERE message_id LIKE '{prefix}-{run}-%'"
    ))
    .fetch_one(t.app.db().pool())
    .await
    .unwrap();
    assert_eq!(stored, 5, "the retried messages were not stored again");
    let live: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT COALESCE(p.merged_into, p.id)) FROM raw_events e JOIN profiles p ON p.id = e.profile_id \
         WHERE e.message_id LIKE '{prefix}-{run}-%'"
    ))
    .fetch_one(t.app.db().pool())
    .await
    .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn segment_analytics_python_is_understood() {
    let python = std::env::var("COVE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let hint = format!(
        "install the peer: {python} -m pip install segment-analytics-python==2.4.0 \
         (scripts/test installs it into target/py and sets COVE_PYTHON)"
    );
    let probe = std::process::Command::new(&python)
        .args(["-c", "import segment.analytics"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "segment-analytics-python is not importable by {python}: {hint}"
    );
    let t = Ingest::start().await;
    let run = "r1";
    let out = run_peer(
        &python,
        &["segment_peer.py", &t.app.base, &t.key, run],
        &hint,
    )
    .await;
    assert!(out.contains("\"library\""), "{out}");
    assert_story(&t, "py", run).await;
    // The library sent gzip bodies and a body writeKey next to Basic auth: all accepted.
}

#[tokio::test]
async fn segment_analytics_node_is_understood() {
    let hint = "install the peer: (cd crates/cove-server/tests/ingest/peers && npm install --no-audit --no-fund)";
    assert!(
        peers_dir()
            .join("node_modules/@segment/analytics-node/package.json")
            .exists(),
        "@segment/analytics-node is missing: {hint}"
    );
    let t = Ingest::start().await;
    let run = "r1";
    run_peer(
        "node",
        &["segment_peer.mjs", &t.app.base, &t.key, run],
        hint,
    )
    .await;
    assert_story(&t, "node", run).await;
}
