//! The `cove` command as a newcomer uses it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cove(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cove"));
    cmd.current_dir(dir)
        .env_remove("COVE_DATABASE_URL")
        .env_remove("COVE_LISTEN")
        .env("COVE_DATA_DIR", dir.join("data"))
        .env("COVE_LOG__FILTER", "info");
    cmd
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = cove(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "migrate", "demo", "user"] {
        assert!(
            help.contains(command),
            "{command} missing from --help:\n{help}"
        );
    }
    let user_add = cove(dir.path())
        .args(["user", "add", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(user_add.stdout).unwrap();
    assert!(
        text.contains("--role") && text.contains("store_staff"),
        "{text}"
    );
}

#[test]
fn user_add_creates_a_user_once_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let ok = cove(dir.path())
        .args(["user", "add", "--role", "admin", "ops@brand.cn"])
        .env("COVE_PASSWORD", "a-long-enough-password")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("added ops@brand.cn (admin)"));
    assert!(
        dir.path().join("data/cove.db").exists(),
        "SQLite file under the data dir"
    );

    let again = cove(dir.path())
        .args(["user", "add", "--role", "admin", "ops@brand.cn"])
        .env("COVE_PASSWORD", "a-long-enough-password")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let bad_role = cove(dir.path())
        .args(["user", "add", "--role", "king", "k@brand.cn"])
        .env("COVE_PASSWORD", "a-long-enough-password")
        .output()
        .unwrap();
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role 'king'"));

    let weak = cove(dir.path())
        .args(["user", "add", "--role", "marketing", "m@brand.cn"])
        .env("COVE_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));
}

#[test]
fn serve_listens_where_configured_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cove(dir.path())
        .arg("serve")
        .env("COVE_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first}");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "cove serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit: {status:?}");
}
