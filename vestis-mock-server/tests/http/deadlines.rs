//! Connection deadlines, tried with raw sockets in every state a client
//! can leave a connection in (silent, a partial or idle HTTP/2 preface,
//! a trickled head, idle between requests, a body that stops), with
//! short configured deadlines; and the binary under a descriptor limit of
//! 64, which recovers by itself once the deadlines pass. Closure is
//! asserted within generous bounds, never at a precise time.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use vestis_mock_server::{Config, MockServer};

/// Both deadlines, short enough for a fast test.
const DEADLINE: Duration = Duration::from_millis(400);
/// Far more than a deadline: a connection still open this late is held.
const BOUND: Duration = Duration::from_secs(20);

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: the client's half of the HTTP/2 handshake.
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

async fn server() -> MockServer {
    let config = Config {
        head_timeout: DEADLINE,
        body_timeout: DEADLINE,
        ..Config::default()
    };
    MockServer::start(config).await.unwrap()
}

/// Sends `first`, then `drip` every 100 ms (nothing if empty), and reads
/// until the server closes the connection; `None` when it is still open
/// after [`BOUND`], else what the server sent.
async fn held(server: &MockServer, first: &[u8], drip: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(first).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(String::from_utf8_lossy(&answer).into_owned()),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick() => {
                if started.elapsed() > BOUND {
                    return None;
                }
                if !drip.is_empty() && stream.write_all(drip).await.is_err() {
                    return Some(String::from_utf8_lossy(&answer).into_owned());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let server = server().await;
    assert!(
        held(&server, b"", b"").await.is_some(),
        "a silent connection is held"
    );
}

#[tokio::test]
async fn a_partial_or_idle_http2_preface_is_closed() {
    let server = server().await;
    let partial = &H2_PREFACE[..16];
    let shaken = [H2_PREFACE, H2_SETTINGS].concat();
    // A HEADERS frame (`:method GET`) without END_HEADERS, its
    // CONTINUATION never sent: an HTTP/2 request head that never ends.
    let unfinished = [H2_PREFACE, H2_SETTINGS, &[0, 0, 1, 1, 1, 0, 0, 0, 1, 0x82]].concat();
    for (name, first) in [
        ("one byte of the preface", &H2_PREFACE[..1]),
        ("a partial preface", partial),
        ("the preface alone", H2_PREFACE),
        ("the preface and settings", &shaken[..]),
        ("a request head never finished", &unfinished[..]),
    ] {
        assert!(held(&server, first, b"").await.is_some(), "{name}: held");
    }
}

/// A preface dripped a byte every 100 ms, never completed: every byte is
/// progress, none a request. (Completed, or dripped on past its 24 bytes,
/// hyper would refuse it as a bad frame by itself.)
#[tokio::test]
async fn an_http2_preface_dripped_a_byte_at_a_time_is_closed() {
    let server = server().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    let mut unsent = H2_PREFACE[..23].iter();
    while !closed && started.elapsed() < BOUND {
        if let Some(byte) = unsent.next() {
            closed = stream.write_all(&[*byte]).await.is_err();
        }
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
        closed |= matches!(read, Ok(Ok(0) | Err(_)));
    }
    assert!(closed, "a dripped preface is held");
}

#[tokio::test]
async fn a_head_trickled_a_byte_at_a_time_is_cut_off() {
    let server = server().await;
    let answer = held(
        &server,
        b"GET /health HTTP/1.1\r\nhost: x\r\n",
        b"x-a: 1\r\n",
    )
    .await;
    let answer = answer.expect("a trickled head is held");
    assert!(!answer.contains("200 OK"), "{answer}");
    // Before the protocol is known: one byte, then one more now and then.
    assert!(held(&server, b"G", b"E").await.is_some(), "held");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
    let server = server().await;
    let answer = held(&server, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n", b"").await;
    let answer = answer.expect("an idle keep-alive connection is held");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stops_is_answered_400_and_closed() {
    let server = server().await;
    let head = b"POST /api/v1/generate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
    for (name, drip) in [("stopped", &b""[..]), ("trickled", b" ")] {
        let answer = held(&server, head, drip).await;
        let answer = answer.unwrap_or_else(|| panic!("{name}: a slow body is held"));
        assert!(answer.starts_with("HTTP/1.1 400"), "{name}: {answer}");
        assert!(
            answer.contains("not received within 400ms"),
            "{name}: {answer}"
        );
    }
}

/// HTTP/2 without TLS (prior knowledge): one request, then silence.
#[tokio::test]
async fn an_http2_connection_idle_after_its_request_is_closed() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = server().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{}/health", server.addr()))
        .body(Empty::<axum::body::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    // Ends when the server closes the connection.
    let ended = tokio::time::timeout(BOUND, conn).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection is held");
}

/// An answer still streaming is not idle: the dashboard's event stream
/// over HTTP/2 outlives many deadlines.
#[tokio::test]
async fn an_http2_answer_still_streaming_keeps_its_connection() {
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = server().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{}/__admin/events", server.addr()))
        .body(Empty::<axum::body::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(DEADLINE * 5).await;
    assert!(
        !conn.is_finished(),
        "a streaming answer's connection was closed"
    );
    drop(response);
}

/// The binary under `prlimit --nofile=64`: 80 silent connections use up
/// its descriptors, and `/health` answers again once their deadline has
/// closed them.
#[test]
fn a_server_out_of_file_descriptors_recovers_once_deadlines_pass() {
    use std::io::{BufRead, BufReader, Read, Write};
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit (util-linux) is needed for this test");
    }
    let mut child: Child = Command::new("prlimit")
        .args(["--nofile=64:64", "--"])
        .arg(env!("CARGO_BIN_EXE_vestis-mock-server"))
        .args(["--port", "0", "--head-timeout", "1s"])
        .env_remove("VESTIS_MOCK_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _child = Kill(child);
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();

    let silent: Vec<_> = (0..80)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let started = std::time::Instant::now();
    let answered = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "/health never answered again"
        );
        let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            break answer;
        }
    };
    assert!(answered.contains("ok"), "{answered}");
    drop(silent);
}

/// An HTTP/2 request whose body stops: the body deadline answers 400 as
/// over HTTP/1, and the connection, idle after it, is closed too.
#[tokio::test]
async fn an_http2_body_that_stops_is_answered_400_and_its_connection_closed() {
    use axum::body::Bytes;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = server().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, std::io::Error>>();
    tx.unbounded_send(Ok(Frame::data(Bytes::from_static(b"{"))))
        .unwrap();
    let request = hyper::Request::post(format!("http://{}/api/v1/generate", server.addr()))
        .header("authorization", "Bearer t")
        .header("content-type", "application/json")
        .body(StreamBody::new(rx))
        .unwrap();
    let response = tokio::time::timeout(BOUND, sender.send_request(request))
        .await
        .expect("a stopped HTTP/2 body is held")
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("not received within 400ms"),
        "{body:?}"
    );
    drop(tx); // only now: the body never ended from the client's side
    let ended = tokio::time::timeout(BOUND, conn).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection is held");
}
