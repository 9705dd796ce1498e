//! The HTTP the SDK meets beyond the contract: redirects (never followed
//! for API calls), answers too large to be the API's, base URLs that
//! cannot take a path. Real sockets on 127.0.0.1:0: wiremock, and a raw
//! server for a body that never ends.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::model::ChatRequest;

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .token("me")
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_api_redirect_is_never_followed_and_says_where_it_pointed() {
    // The API moved to another port (http to https, a wrong host): the
    // token must not be dropped and the POST must not become a GET.
    let moved = MockServer::start().await;
    let server = MockServer::start().await;
    for route in ["/api/v1/jobs/1", "/api/v1/generate"] {
        Mock::given(path(route))
            .respond_with(
                ResponseTemplate::new(301)
                    .insert_header("Location", format!("{}{route}", moved.uri())),
            )
            .mount(&server)
            .await;
    }
    let c = client(&format!("{}/api/v1", server.uri()));
    let expected_base = format!("{}/api/v1", moved.uri());
    match c.get(JobId(1)).await {
        Err(Error::Redirected {
            status: 301,
            location: Some(location),
            suggested_base_url: Some(base),
        }) => {
            assert_eq!(location, format!("{}/api/v1/jobs/1", moved.uri()));
            assert_eq!(base, expected_base);
        }
        other => panic!("{other:?}"),
    }
    let created = c.create(JobKind::Chat, &ChatRequest::new("x")).await;
    let error = created.unwrap_err();
    assert!(
        matches!(error, Error::Redirected { status: 301, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&expected_base), "{error}");
    assert!(
        moved.received_requests().await.unwrap().is_empty(),
        "nothing was sent where the redirect pointed"
    );
}

#[tokio::test]
async fn an_image_download_follows_a_cdn_redirect() {
    let cdn = MockServer::start().await;
    Mock::given(path("/img.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"\x89PNG".to_vec()))
        .mount(&cdn)
        .await;
    let server = MockServer::start().await;
    Mock::given(path("/images/1.png"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", format!("{}/img.png", cdn.uri())),
        )
        .mount(&server)
        .await;
    let c = client(&format!("{}/api/v1", server.uri()));
    let png = c
        .download(&format!("{}/images/1.png", server.uri()))
        .await
        .unwrap();
    assert_eq!(png, b"\x89PNG");
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused_typed() {
    let server = MockServer::start().await;
    let big = vec![b' '; usize::try_from(MAX_ANSWER_BYTES).unwrap() + 1];
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(big))
        .mount(&server)
        .await;
    let error = client(&server.uri()).get(JobId(1)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::TooLarge {
                status: 200,
                limit: MAX_ANSWER_BYTES
            }
        ),
        "{error:?}"
    );
}

/// A server whose every answer is a 200 that never ends (chunked, no
/// length), written as fast as it is read: its base URL.
async fn endless_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let start = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_cap() {
    let base = endless_server().await;
    let answer = tokio::time::timeout(Duration::from_secs(60), client(&base).get(JobId(1))).await;
    let error = answer.expect("the read stopped").unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
}

#[tokio::test]
async fn an_image_download_is_streamed_in_pieces() {
    // The same endless body as an image: read piece by piece, never whole.
    let base = endless_server().await;
    let mut download = client(&base)
        .open_download(&format!("{base}/images/1.png"))
        .await
        .unwrap();
    let mut read = 0u64;
    while read <= 4 * MAX_ANSWER_BYTES {
        let chunk = download.chunk().await.unwrap().expect("more");
        assert!(chunk.len() as u64 <= MAX_ANSWER_BYTES, "{}", chunk.len());
        read += chunk.len() as u64;
    }
}

#[test]
fn a_base_url_with_a_query_or_fragment_is_refused() {
    for url in [
        "http://127.0.0.1:9/api/v1?x=1",
        "http://127.0.0.1:9/api/v1#top",
    ] {
        let error = Client::builder().base_url(url).build().unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{url}: {error:?}");
        assert!(error.to_string().contains("query string"), "{error}");
    }
}
