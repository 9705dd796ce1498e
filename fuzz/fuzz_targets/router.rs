//! libFuzzer target: the input is one request, `METHOD PATH\nHeader: v\n...\n\nBODY`,
//! sent through the mock server's router (admin off) without a socket. Never a 500.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use vestis_mock_server::{App, ClockMode, Config};

struct Target {
    runtime: tokio::runtime::Runtime,
    app: App,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let mut config = Config::default();
        config.clock = ClockMode::Manual;
        config.max_jobs = 16;
        config.seed = Some(1);
        // No admin: a fuzzed config patch could set a day of latency on a
        // real-time runtime. The stable fuzzer covers the admin routes.
        config.admin = false;
        let app = {
            let _inside = runtime.enter();
            App::new(config)
        };
        Target { runtime, app }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let Some((method, path)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let mut request = Request::builder().method(method).uri(path);
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            request = request.header(k.trim(), v.trim());
        }
    }
    let Ok(request) = request.body(Body::from(body.to_owned())) else {
        return;
    };
    let t = target();
    let status = t
        .runtime
        .block_on(t.app.router().oneshot(request))
        .expect("infallible")
        .status();
    assert_ne!(status.as_u16(), 500, "500 for {text:?}");
});
