//! The web layer over PostgreSQL: its client blocks on a runtime of its own and panics when
//! called on an async thread, so every route answering here proves the handlers reach the
//! store through blocking threads. Runs when `PICKET_TEST_POSTGRES_URL` is set (a schema of the
//! test's own, dropped afterwards), says it was skipped otherwise.

use ::postgres::{Client, NoTls};
use picket_web::routes;

use crate::auth::{concrete, served};
use crate::{bearer, harness_at};

const PG_URL_VAR: &str = "PICKET_TEST_POSTGRES_URL";

/// A schema of the test's own, dropped when done.
struct Schema {
    admin: Client,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Best effort: a failed drop must not hide the test's own outcome.
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

#[test]
fn every_route_answers_over_postgres() {
    let Ok(url) = std::env::var(PG_URL_VAR) else {
        eprintln!("skipped: {PG_URL_VAR} not set");
        return;
    };
    let name = format!("picket_web_t{}", std::process::id());
    let mut admin = Client::connect(&url, NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .unwrap();
    let schema = Schema { admin, name };
    let sep = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{sep}options=-c%20search_path%3D{}", schema.name);
    let h = harness_at(&location, tempfile::tempdir().unwrap());
    for route in routes() {
        let (content_type, body, expected) = served(&route);
        let uri = concrete(&route);
        let mut headers = vec![bearer()];
        if !content_type.is_empty() {
            headers.push(("content-type", content_type));
        }
        let a = h.call(route.method.as_str(), &uri, &headers, body);
        assert_eq!(
            a.status.as_u16(),
            expected,
            "{} {uri}: {}",
            route.method.as_str(),
            a.body
        );
    }
    let all = h.get("/api/v1/alerts?limit=all");
    assert_eq!(all.json().as_array().map(Vec::len), Some(7));
    drop(h);
    drop(schema);
}
