//! `localhost` whichever address family it resolves to first: the binary
//! started with its defaults answers on `127.0.0.1` and `::1` (Node 18+
//! tries `::1` first), announces the address it was asked for, and
//! listens on nothing beyond loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary, killed when dropped.
struct Server {
    child: Child,
    line: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vestis-mock-server"))
            .args(args)
            .env_remove("VESTIS_MOCK_HOST")
            .env_remove("VESTIS_MOCK_PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Server { child, line }
    }

    fn port(&self) -> u16 {
        self.line
            .trim()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /health` at `addr`: the status line, or the error.
fn health(addr: SocketAddr) -> Result<String, std::io::Error> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

/// Whether this machine has an IPv6 loopback to test against.
fn has_ipv6_loopback() -> bool {
    let ok = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ok {
        eprintln!("skipped: no ::1 on this machine");
    }
    ok
}

/// The local addresses listening on `port`, from `/proc/net/tcp{,6}`
/// (state `0A`), as the kernel's hex.
fn listening_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for row in text.lines().skip(1) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((ip, hex_port)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(ip.to_owned());
            }
        }
    }
    found
}

#[test]
fn a_default_start_answers_localhost_on_either_family_and_only_on_loopback() {
    let server = Server::start(&["--port", "0"]);
    assert!(
        server
            .line
            .starts_with("vestis-mock-server listening on http://127.0.0.1:"),
        "the ready line keeps its address: {:?}",
        server.line
    );
    let port = server.port();
    let v4: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(health(v4).unwrap(), "HTTP/1.1 200 OK");
    // Whatever this machine's resolver says `localhost` is, each answer.
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", port))
        .unwrap()
        .collect();
    for addr in resolved {
        assert_eq!(health(addr).unwrap(), "HTTP/1.1 200 OK", "{addr}");
    }
    if has_ipv6_loopback() {
        let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, port).into();
        assert_eq!(
            health(v6).map_err(|e| e.to_string()),
            Ok("HTTP/1.1 200 OK".to_owned()),
            "localhost as ::1"
        );
    }
    let loopback = [
        "0100007F".to_owned(),
        "00000000000000000000000001000000".to_owned(),
    ];
    let listening = listening_on(port);
    assert!(!listening.is_empty(), "no listening socket seen on {port}");
    for ip in listening {
        assert!(loopback.contains(&ip), "listening beyond loopback: {ip}");
    }
}

#[test]
fn host_ipv6_loopback_also_answers_on_127_0_0_1() {
    if !has_ipv6_loopback() {
        return;
    }
    let server = Server::start(&["--port", "0", "--host", "::1"]);
    assert!(
        server
            .line
            .starts_with("vestis-mock-server listening on http://[::1]:"),
        "{:?}",
        server.line
    );
    let v4: SocketAddr = ([127, 0, 0, 1], server.port()).into();
    assert_eq!(health(v4).unwrap(), "HTTP/1.1 200 OK");
}

/// A fixed port another program holds on `::1`: the server still starts
/// on the address asked for (with a warning), rather than refusing.
#[test]
fn a_port_taken_on_the_other_loopback_still_starts_on_the_one_asked_for() {
    if !has_ipv6_loopback() {
        return;
    }
    let other = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let server = Server::start(&["--port", &port.to_string()]);
    assert_eq!(
        server.line.trim(),
        format!("vestis-mock-server listening on http://127.0.0.1:{port}")
    );
    let v4: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(health(v4).unwrap(), "HTTP/1.1 200 OK");
}

#[test]
fn a_wildcard_or_another_address_gets_no_companion() {
    let server = Server::start(&["--port", "0", "--host", "127.0.0.2"]);
    if !server.line.contains("127.0.0.2") {
        eprintln!("skipped: 127.0.0.2 not bindable here: {:?}", server.line);
        return;
    }
    assert_eq!(listening_on(server.port()), ["0200007F"]);
}
