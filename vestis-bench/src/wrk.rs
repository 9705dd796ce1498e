//! Runs `wrk` (the external load generator) and parses what it prints.
//!
//! Each load is described by a generated Lua script: method, body, the
//! bearer token (fixed, or rotated over N tokens), and optionally the one
//! status every answer must have, counted per thread and summed in `done`.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// What to send, how hard and for how long.
#[derive(Debug, Clone)]
pub struct Load {
    /// The full URL, e.g. `http://127.0.0.1:4000/api/v1/jobs/1`.
    pub url: String,
    /// Open connections (`-c`).
    pub connections: u32,
    /// Load-generator threads (`-t`).
    pub threads: u32,
    /// How long to send (`-d`, whole seconds, at least 1).
    pub duration: Duration,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// A JSON request body (sent with `Content-Type: application/json`).
    pub body: Option<String>,
    /// The bearer token; with `rotate` set, a prefix numbered `0..rotate`.
    pub token: String,
    /// Rotate the token over this many numbered tokens, one per request.
    pub rotate: Option<u32>,
    /// Count every answer whose status differs from this one (costs the
    /// generator a Lua call per answer, so GET throughput runs leave it off).
    pub expect: Option<u16>,
}

impl Load {
    /// A `GET` of `url` as `token`, 64 connections on 2 threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let load = vestis_bench::wrk::Load::get("http://127.0.0.1:1/", "t", Duration::from_secs(5));
    /// assert_eq!((load.method, load.connections), ("GET", 64));
    /// ```
    pub fn get(url: &str, token: &str, duration: Duration) -> Load {
        Load {
            url: url.to_owned(),
            connections: 64,
            threads: 2,
            duration,
            method: "GET",
            body: None,
            token: token.to_owned(),
            rotate: None,
            expect: None,
        }
    }

    /// A `POST` of `body` that must be answered `expect` every time.
    pub fn post(url: &str, token: &str, duration: Duration, body: &str, expect: u16) -> Load {
        Load {
            method: "POST",
            body: Some(body.to_owned()),
            expect: Some(expect),
            ..Load::get(url, token, duration)
        }
    }

    fn script(&self) -> String {
        let quote = |s: &str| format!("{s:?}"); // Rust's escapes are valid Lua string escapes here
        let mut lua = format!(
            "wrk.method = {}\nwrk.headers[\"Authorization\"] = {}\n",
            quote(self.method),
            quote(&format!("Bearer {}", self.token)),
        );
        if let Some(body) = &self.body {
            lua += &format!(
                "wrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
                quote(body)
            );
        }
        lua += "local threads = {}\nfunction setup(thread) table.insert(threads, thread) end\n";
        lua += "function init(args) unexpected = 0; n = 0 end\n";
        if let Some(count) = self.rotate {
            lua += &format!(
                "function request()\n  n = n + 1\n  wrk.headers[\"Authorization\"] = {} .. (n % {count})\n  return wrk.format()\nend\n",
                quote(&format!("Bearer {}", self.token))
            );
        }
        if let Some(expect) = self.expect {
            lua += &format!(
                "function response(status, headers, body)\n  if status ~= {expect} then unexpected = unexpected + 1 end\nend\n"
            );
        }
        lua += "function done(summary, latency, requests)\n  local total = 0\n  for _, t in ipairs(threads) do total = total + t:get(\"unexpected\") end\n  io.write(\"unexpected-status \" .. total .. \"\\n\")\nend\n";
        lua
    }

    /// Runs `wrk` with this load.
    ///
    /// # Errors
    ///
    /// `wrk` is missing or fails, or its output cannot be parsed.
    pub fn run(&self) -> anyhow::Result<Report> {
        let mut script = tempfile::Builder::new().suffix(".lua").tempfile()?;
        script.write_all(self.script().as_bytes())?;
        let seconds = self.duration.as_secs().max(1);
        let out = Command::new("wrk")
            // A generous timeout: a slow, shared machine is measured, not failed.
            .args([
                "--latency",
                "--timeout",
                "10s",
                "-t",
                &self.threads.to_string(),
            ])
            .args(["-c", &self.connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "-s"])
            .arg(script.path())
            .arg(&self.url)
            .output()
            .context("cannot run wrk (bench/run.sh installs it)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("wrk failed: {}{text}", String::from_utf8_lossy(&out.stderr));
        }
        Report::parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
    }
}

/// What one `wrk` run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// 99th-percentile latency.
    pub p99: Duration,
    /// Answers whose status was not 2xx or 3xx.
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// Answers whose status differed from [`Load::expect`] (0 when unset).
    pub unexpected: u64,
}

impl Report {
    /// Parses `wrk --latency`'s output (with this module's `done` line).
    ///
    /// # Errors
    ///
    /// A figure the report needs is missing.
    pub fn parse(text: &str) -> anyhow::Result<Report> {
        let after = |prefix: &str| {
            text.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::trim)
        };
        let requests = text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next())
            .context("no request count")?
            .parse()?;
        let rps = after("Requests/sec:").context("no Requests/sec")?.parse()?;
        let p99 = parse_duration(after("99%").context("no 99% latency")?)?;
        let non_2xx = after("Non-2xx or 3xx responses:").map_or(Ok(0), str::parse)?;
        let socket_errors = match after("Socket errors:") {
            Some(list) => list
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1))
                .map(str::parse::<u64>)
                .sum::<Result<u64, _>>()?,
            None => 0,
        };
        let unexpected = after("unexpected-status").map_or(Ok(0), str::parse)?;
        Ok(Report {
            requests,
            rps,
            p99,
            non_2xx,
            socket_errors,
            unexpected,
        })
    }
}

/// `wrk`'s durations: `812.00us`, `1.23ms`, `2.00s`, `1.50m`.
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .context("duration without a unit")?;
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => bail!("unknown unit {unit:?}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 5s test @ http://127.0.0.1:3000/api/v1/jobs/1
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   510.12us  300.00us  12.00ms   90.00%
    Req/Sec    62.00k     3.00k   70.00k    70.00%
  Latency Distribution
     50%  450.00us
     75%  600.00us
     90%  800.00us
     99%    1.52ms
  620000 requests in 5.00s, 300.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec: 124000.50
Transfer/sec:     60.00MB
unexpected-status 9
";

    #[test]
    fn every_figure_is_read() {
        let report = Report::parse(OUTPUT).unwrap();
        assert_eq!(report.requests, 620_000);
        assert!((report.rps - 124_000.5).abs() < 1e-6);
        assert_eq!(report.p99, Duration::from_micros(1520));
        assert_eq!(
            (report.non_2xx, report.socket_errors, report.unexpected),
            (7, 3, 9)
        );
    }

    #[test]
    fn a_missing_figure_is_an_error() {
        assert!(Report::parse("Running 5s test").is_err());
        assert!(parse_duration("12").is_err());
        assert_eq!(parse_duration("2.00s").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn the_script_rotates_tokens_and_counts_statuses() {
        let mut load = Load::post(
            "http://x/",
            "other-",
            Duration::from_secs(1),
            r#"{"a":"b"}"#,
            202,
        );
        load.rotate = Some(1000);
        let lua = load.script();
        assert!(lua.contains(r#"wrk.body = "{\"a\":\"b\"}""#), "{lua}");
        assert!(lua.contains("(n % 1000)"), "{lua}");
        assert!(lua.contains("status ~= 202"), "{lua}");
    }
}
