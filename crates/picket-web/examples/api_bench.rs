//! The server of the API load benchmark (`bench/api/run.sh`): picket-web's router over an SQLite
//! store holding at least `--alerts` alerts (generated the first time), with the tests' stand-in
//! for the service, on a loopback address. Benchmark support only: it must never listen on
//! anything but loopback or be used as the service.
//!
//! `cargo run --release -p picket-web --example api_bench -- --db /tmp/bench.db --alerts 100000
//! --listen 127.0.0.1:7878 --token TOKEN`

#[allow(dead_code)] // The benchmark uses the generator and the stand-in, not the seeded story.
#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Instant;

use picket_store::prelude::*;
use picket_web::WebState;

struct Args {
    db: String,
    alerts: u32,
    listen: SocketAddr,
    token: String,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        db: "api-bench.db".into(),
        alerts: 100_000,
        listen: "127.0.0.1:7878".parse().map_err(|e| format!("{e}"))?,
        token: support::TOKEN.into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => args.db = value,
            "--alerts" => args.alerts = value.parse().map_err(|e| format!("--alerts: {e}"))?,
            "--listen" => args.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--token" => args.token = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !args.listen.ip().is_loopback() {
        return Err(format!("--listen {}: loopback only", args.listen));
    }
    Ok(args)
}

fn main() -> Result<(), String> {
    let args = args()?;
    let store = picket_store::open(&args.db).map_err(|e| e.to_string())?;
    let stored: u64 = store
        .alert_counts()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|c| c.count)
        .sum();
    if stored < u64::from(args.alerts) {
        let started = Instant::now();
        support::many_alerts(&store, args.alerts);
        eprintln!(
            "stored {} alerts in {:.1} s",
            args.alerts,
            started.elapsed().as_secs_f64()
        );
    }
    let state = WebState {
        store,
        token: args.token.as_str().into(),
        control: std::sync::Arc::new(support::Stub::default()),
    };
    let app = picket_web::router(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("{}: {e}", args.listen))?;
        eprintln!("listening on http://{}", args.listen);
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
