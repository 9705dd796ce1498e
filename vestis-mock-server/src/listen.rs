//! Where the server listens: the address asked for and, for a loopback
//! address, the other address family's loopback on the same port.
//!
//! `localhost` resolves to `::1` first under Node 18 and later and in
//! several distributions' `/etc/hosts`, so a server on `127.0.0.1` alone
//! refused the guide's `http://localhost:4000/api/v1`. Listening on both
//! loopbacks answers `localhost` whichever family it resolves to first
//! and opens nothing beyond the machine; the ready line and every URL
//! built from it keep naming the address asked for.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};

/// How many free ports [`bind`] tries, when asked for any port, before it
/// settles for one free on the first loopback only.
const PORT_TRIES: usize = 16;

/// The other family's loopback for `127.0.0.1` and `::1`; `None` for any
/// other address (a wildcard already covers both, or the caller chose an
/// interface).
fn companion(host: IpAddr) -> Option<IpAddr> {
    match host {
        IpAddr::V4(v4) if v4 == Ipv4Addr::LOCALHOST => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        IpAddr::V6(v6) if v6 == Ipv6Addr::LOCALHOST => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => None,
    }
}

/// Binds `host:port` (port 0: a free one) and, when `host` is `127.0.0.1`
/// or `::1`, the other loopback on the same port. The first listener is
/// always `host`'s, the address to announce.
///
/// The companion is best effort: a machine without IPv6 (or IPv4) serves
/// `host` alone, and so does a fixed port the companion address already
/// has in use by another program (logged as a warning: `localhost` may
/// reach that program first). With port 0, a port free on both is
/// looked for.
///
/// # Errors
///
/// When `host:port` itself cannot be bound.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::net::Ipv4Addr;
///
/// let listeners = vestis_mock_server::listen::bind(Ipv4Addr::LOCALHOST.into(), 0).await?;
/// // 127.0.0.1:PORT, and [::1]:PORT where the machine has IPv6.
/// println!("{}", listeners[0].local_addr()?);
/// # Ok(()) }
/// ```
pub async fn bind(host: IpAddr, port: u16) -> io::Result<Vec<TcpListener>> {
    let Some(other) = companion(host) else {
        return Ok(vec![TcpListener::bind((host, port)).await?]);
    };
    let tries = if port == 0 { PORT_TRIES } else { 1 };
    let mut attempt = 1;
    loop {
        let first = TcpListener::bind((host, port)).await?;
        let bound = first.local_addr()?.port();
        match TcpListener::bind((other, bound)).await {
            Ok(second) => return Ok(vec![first, second]),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < tries => attempt += 1,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                tracing::warn!(
                    address = %SocketAddr::new(other, bound),
                    error = %e,
                    "listening on one loopback only: `localhost` may reach another program"
                );
                return Ok(vec![first]);
            }
            // No such family here (no IPv6, say): the one loopback it is.
            Err(_) => return Ok(vec![first]),
        }
    }
}

/// Accepts the next connection on any of `listeners`, taking turns so a
/// busy one does not starve the others.
pub(crate) async fn accept(
    listeners: &[TcpListener],
    turn: &mut usize,
) -> io::Result<(TcpStream, SocketAddr)> {
    poll_fn(|cx| {
        let n = listeners.len();
        for i in 0..n {
            let at = (*turn + i) % n;
            if let Poll::Ready(accepted) = listeners[at].poll_accept(cx) {
                *turn = at + 1;
                return Poll::Ready(accepted);
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_loopbacks_get_a_companion() {
        assert_eq!(
            companion(Ipv4Addr::LOCALHOST.into()),
            Some(Ipv6Addr::LOCALHOST.into())
        );
        assert_eq!(
            companion(Ipv6Addr::LOCALHOST.into()),
            Some(Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(companion(Ipv4Addr::UNSPECIFIED.into()), None);
        assert_eq!(companion(Ipv6Addr::UNSPECIFIED.into()), None);
        assert_eq!(companion("127.0.0.2".parse().unwrap()), None);
        assert_eq!(companion("192.168.1.4".parse().unwrap()), None);
    }
}
