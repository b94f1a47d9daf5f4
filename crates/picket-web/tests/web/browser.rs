//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads each page from
//! a server on 127.0.0.1 over the seeded store, logged in through a form that posts the token to
//! `/login` as the login page's does; the test asserts what the page shows and takes a
//! screenshot of it (into `docs/screenshots/` with `PICKET_SCREENSHOTS=1`, else a temporary
//! directory).

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;

use crate::harness;
use crate::support::TOKEN;

fn chromium_installed() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[derive(serde::Deserialize)]
struct Next {
    next: String,
}

/// A page of the test's own (outside the app, same origin) that logs in through a form and
/// goes on to `next`: the session cookie is SameSite=Strict, so the login must start on the
/// site itself.
async fn autologin(Query(q): Query<Next>) -> Html<String> {
    Html(format!(
        "<!doctype html><form method=post action=/login>\
         <input name=token value={TOKEN}><input name=next value=\"{}\"></form>\
         <script>document.forms[0].submit()</script>",
        q.next
    ))
}

struct Browser {
    base: String,
    profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn run(&self, url: &str, size: (u32, u32), extra: &[String]) -> std::process::Output {
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .args(extra)
        .arg(url);
        cmd.output().expect("chromium runs")
    }

    /// The page's DOM after load, logged in (or not).
    fn dom(&self, path: &str, logged_in: bool) -> String {
        let out = self.run(
            &self.url(path, logged_in),
            (1280, 900),
            &["--dump-dom".into()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn url(&self, path: &str, logged_in: bool) -> String {
        if logged_in {
            let next: String = path
                .bytes()
                .map(|b| match b {
                    b'/' | b'a'..=b'z' | b'0'..=b'9' | b'.' => char::from(b).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{}/__test/login?next={next}", self.base)
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn screenshot(&self, name: &str, path: &str, logged_in: bool, size: (u32, u32)) -> PathBuf {
        let file = self.shots.join(format!("{name}.png"));
        let out = self.run(
            &self.url(path, logged_in),
            size,
            &[format!("--screenshot={}", file.display())],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&file).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n"), "{name} is no PNG");
        assert!(
            png.len() > 10_000,
            "{name} looks empty ({} bytes)",
            png.len()
        );
        file
    }
}

#[test]
fn the_dashboard_renders_in_chromium() {
    if !chromium_installed() {
        eprintln!("skipped: chromium not installed (apt-get install chromium)");
        return;
    }
    let h = harness();
    let app = h
        .router
        .clone()
        .merge(Router::new().route("/__test/login", get(autologin)));
    let listener =
        h.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
    let addr = listener.local_addr().unwrap();
    h.rt.spawn(async move { axum::serve(listener, app).await });

    let keep = std::env::var_os("PICKET_SCREENSHOTS").is_some();
    let tmp = tempfile::tempdir().unwrap();
    let shots = if keep {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        tmp.path().to_owned()
    };
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser {
        base: format!("http://{addr}"),
        profile: tempfile::tempdir().unwrap(),
        shots,
    };

    // Without a session: the login form, whatever page was asked for.
    let login = browser.dom("/alerts", false);
    assert!(login.contains("Log in to Picket"), "{login}");
    assert!(login.contains("value=\"/alerts\""), "{login}");
    // Before any login: the profile keeps the session cookie afterwards.
    browser.screenshot("login", "/", false, (1280, 640));

    let pages: [(&str, &str, &[&str]); 5] = [
        (
            "overview",
            "/",
            &[
                "Open ports over time",
                "Alerts by severity",
                "Log out",
                "nightly",
            ],
        ),
        (
            "host",
            "/hosts/192.0.2.20",
            &["Port history", "8443/tcp", "Remediation"],
        ),
        ("findings", "/findings", &["flapping", "filtered", "closed"]),
        (
            "alerts",
            "/alerts",
            &["CVE-2024-6387", "Acknowledge", "expected-testing"],
        ),
        (
            "blocks",
            "/blocks",
            &["Block a network", "scanner sweep from alert 1"],
        ),
    ];
    for (name, path, expect) in pages {
        let dom = browser.dom(path, true);
        for text in expect {
            assert!(dom.contains(text), "{name}: {text:?} missing from\n{dom}");
        }
        assert!(!dom.contains("Log in to Picket"), "{name}: not logged in");
        // The embedded script ran: the Content-Security-Policy allows it by its hash.
        assert!(
            dom.contains("<html lang=\"en\" class=\"js\">"),
            "{name}: no script ran"
        );
    }

    browser.screenshot("overview", "/", true, (1280, 1200));
    browser.screenshot("host", "/hosts/192.0.2.20", true, (1280, 1400));
    browser.screenshot("findings", "/findings", true, (1280, 720));
    browser.screenshot("alerts", "/alerts", true, (1280, 1000));
    browser.screenshot("blocks", "/blocks", true, (1280, 640));
    browser.screenshot("overview-phone", "/", true, (390, 1900));
    browser.screenshot("alerts-phone", "/alerts?status=open", true, (390, 1400));
}
