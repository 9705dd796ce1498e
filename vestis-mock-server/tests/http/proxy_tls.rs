//! The recording proxy in front of an `https://` backend whose certificate
//! a private certificate authority signed (as staging servers' often are):
//! a throwaway CA and server certificate made with rcgen, a small fake API
//! served over rustls (tokio-rustls) on 127.0.0.1:0. With the CA
//! (`--proxy-ca-cert`) the proxy forwards, follows and records over TLS;
//! without it, every request is the contract's 502 saying why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use reqwest::Method;
use serde_json::{Value, json};
use vestis_mock_server::Config;
use vestis_mock_server::config::Proxy;

use crate::util::{Harness, expect_error, json};

const TOKEN: &str = "tls-secret-5b1e";
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n not really a png, but the bytes to keep";

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    /// The CA's certificate, PEM: what `--proxy-ca-cert` is given.
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vestis test staging CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// A fake job API over TLS: job 41 is created pending and polled
/// completed, with its image on the same server. Returns the base URL.
async fn https_api(pki: &Pki) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("https://127.0.0.1:{port}");
    let image_url = format!("{base}/images/41.png");
    let app = Router::new()
        .route(
            "/api/v1/generate",
            post(|| async {
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"success": true, "job_id": 41, "status": "pending",
                                      "message": "Job queued for processing"})),
                )
            }),
        )
        .route(
            "/api/v1/jobs/41",
            get(move || {
                let image_url = image_url.clone();
                async move {
                    axum::Json(json!({
                        "job_id": 41, "job_type": "chat", "status": "completed", "attempts": 1,
                        "created_at": "2026-12-06T10:00:00.000Z",
                        "started_at": "2026-12-06T10:00:00.400Z",
                        "completed_at": "2026-12-06T10:00:01.100Z", "error": null,
                        "result": {"image_url": image_url, "message": "done"}
                    }))
                }
            }),
        )
        .route("/images/41.png", get(|| async { IMAGE }));
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A refused handshake (the proxy without the CA) ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    format!("{base}/api/v1")
}

async fn proxy(to: &str, ca_cert: Option<&Path>, record: Option<&Path>) -> Harness {
    let mut proxy = Proxy::new(to);
    proxy.ca_cert = ca_cert.map(Path::to_owned);
    proxy.record = record.map(Path::to_owned);
    proxy.follow_every = Duration::from_millis(50);
    Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await
}

#[tokio::test]
async fn an_https_backend_behind_a_private_ca_is_proxied_and_recorded_with_its_ca() {
    let pki = pki();
    let api = https_api(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("staging-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let record = dir.path().join("r.json");
    let h = proxy(&api, Some(&ca), Some(&record)).await;

    let res = h
        .api(TOKEN, Method::POST, "/generate?chat=true")
        .json(&json!({"prompt": "a linen shirt"}))
        .send()
        .await
        .unwrap();
    let (status, created) = json(res).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["job_id"], 41);

    let (status, job) = json(h.api(TOKEN, Method::GET, "/jobs/41").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "completed");
    let image = job["result"]["image_url"].as_str().unwrap().to_owned();
    assert!(image.starts_with(&h.server.url()), "{image}");
    // The image, fetched over TLS from the backend and kept.
    let res = h.http.get(&image).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(&res.bytes().await.unwrap()[..], IMAGE);

    let (status, saved) = json(
        h.raw(Method::POST, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let recording: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(recording["source"], api);
    let jobs = recording["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{recording}");
    assert_eq!(jobs[0]["last"]["status"], "completed");
    assert_eq!(jobs[0]["payload"], json!({"prompt": "a linen shirt"}));
}

#[tokio::test]
async fn without_the_ca_every_request_is_a_502_saying_the_certificate_is_untrusted() {
    let pki = pki();
    let api = https_api(&pki).await;
    let h = proxy(&api, None, None).await;
    for (method, path) in [(Method::POST, "/generate"), (Method::GET, "/jobs/41")] {
        let res = h
            .api(TOKEN, method.clone(), path)
            .json(&json!({"prompt": "x"}))
            .send()
            .await
            .unwrap();
        let body = expect_error(res, 502, "internal").await;
        let message = body["error"].as_str().unwrap();
        for what in [
            api.as_str(),
            "TLS handshake failed",
            "not trusted (unknown issuer",
            "--proxy-ca-cert",
        ] {
            assert!(message.contains(what), "{method} {path}: {what}: {message}");
        }
    }
}

#[test]
fn help_lists_the_ca_flag() {
    let out = crate::spawned::command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for said in ["--proxy-ca-cert <FILE>", "VESTIS_MOCK_PROXY_CA_CERT"] {
        assert!(help.contains(said), "{said}: {help}");
    }
}

#[test]
fn a_ca_file_that_is_not_one_is_refused_before_the_ready_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    for (file, says) in [
        (&empty, "holds no certificate"),
        (&broken, "cannot be a root"),
        (&missing, "cannot be read"),
    ] {
        let out = crate::spawned::command()
            .args([
                "--port",
                "0",
                "--proxy-to",
                "https://127.0.0.1:9/api/v1",
                "--proxy-ca-cert",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--proxy-ca-cert")
                && stderr.contains(file.to_str().unwrap())
                && stderr.contains(says),
            "{says}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "it must not have started");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_with_a_private_key_is_used_with_one_warning() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = ca.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca-and-key.pem");
    std::fs::write(&file, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let file = file.to_str().unwrap();
    let server = crate::spawned::Spawned::start(
        &[
            "--proxy-to",
            "https://127.0.0.1:9/api/v1",
            "--proxy-ca-cert",
            file,
        ],
        &[],
    );
    let mut logs = String::new();
    for _ in 0..250 {
        logs = server.logs();
        if logs.contains("private key") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = server.stop();
    let said: Vec<&str> = logs.lines().filter(|l| l.contains("private key")).collect();
    assert_eq!(said.len(), 1, "{out}");
    assert!(
        said[0].contains("WARN")
            && said[0].contains(&format!(
                "{file} also holds a private key; only its certificates are read"
            )),
        "{out}"
    );
}
