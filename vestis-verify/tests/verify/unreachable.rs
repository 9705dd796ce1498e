//! A server that cannot be reached stops the run with
//! [`Error::Connection`], whose source chain still holds the transport's
//! error down to the operating system's refusal.

use std::error::Error as _;

use vestis_verify::Error;

use crate::util::config;

#[tokio::test]
async fn a_refused_connection_keeps_its_source() {
    // A port that was free a moment ago: nothing listens on it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = vestis_verify::run(&config(&format!("http://{addr}/api/v1")), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Connection { .. }), "{error:?}");
    let mut chain = Vec::new();
    let mut cause = error.source();
    while let Some(e) = cause {
        chain.push(e);
        cause = e.source();
    }
    assert!(!chain.is_empty(), "no source: {error:?}");
    let refused = chain.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    assert!(refused, "no io::Error in {chain:?}");
}
