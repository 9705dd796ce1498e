//! `vestis-mock-server --healthcheck`: asks a running server for `/health`.
//!
//! The container image is built `FROM scratch`, so it has no curl or wget
//! for its `HEALTHCHECK`; the binary probes itself instead. One HTTP/1.0
//! request over a std `TcpStream` with timeouts is all that takes, so this
//! needs no HTTP client crate (and keeps TLS out of the probe).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe waits to connect, and then for each read or write.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The address a probe should connect to for a server bound to `host:port`:
/// a wildcard bind (`0.0.0.0`, `::`) is reached on loopback.
///
/// # Examples
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use vestis_mock_server::probe::probe_address;
///
/// let addr = probe_address(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4000);
/// assert_eq!(addr.to_string(), "127.0.0.1:4000");
/// ```
pub fn probe_address(host: IpAddr, port: u16) -> SocketAddr {
    let ip = match host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, port)
}

/// Sends `GET /health` to `addr` and succeeds when the answer's status is 200.
///
/// # Errors
///
/// The connection's I/O error (refused, timed out after `timeout`), or an
/// [`io::ErrorKind::InvalidData`] error naming the status line when the
/// server answered anything but 200.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use vestis_mock_server::probe::probe_health;
///
/// probe_health("127.0.0.1:4000".parse().unwrap(), Duration::from_secs(3))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn probe_health(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    // The status line is all we need; 64 bytes hold it ("HTTP/1.0 200 OK").
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head[..len]);
    let status_line = text.lines().next().unwrap_or_default();
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "/health answered {:?}",
                status_line.escape_debug().to_string()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_server_is_healthy_and_a_closed_port_is_not() {
        let server = crate::MockServer::start(crate::Config::default())
            .await
            .unwrap();
        let addr = server.addr();
        tokio::task::spawn_blocking(move || probe_health(addr, PROBE_TIMEOUT))
            .await
            .unwrap()
            .unwrap();
        server.shutdown().await;
        let closed = tokio::task::spawn_blocking(move || probe_health(addr, PROBE_TIMEOUT))
            .await
            .unwrap();
        assert!(closed.is_err());
    }

    #[test]
    fn any_other_status_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 256];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
                .unwrap();
        });
        let err = probe_health(addr, PROBE_TIMEOUT).unwrap_err();
        answer.join().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("503"), "{err}");
    }
}
