//! Which image protocol the terminal speaks: from the environment first
//! (what terminals say about themselves), then by asking the terminal,
//! with a short deadline.
//!
//! The question is kitty's graphics query followed by the primary device
//! attributes request (DA1, `CSI c`), which every VT100-style terminal
//! answers: an `OK` to the first means kitty's protocol, a `4` among the
//! DA1 attributes means sixel, an answer with neither means half blocks.
//! The terminal is in raw mode (no echo) while its answer is read, so the
//! answer never shows, and its settings are restored after, on every path.

use std::time::Duration;

use super::Protocol;

/// How long the terminal has to answer, unless `VESTIS_PREVIEW_TIMEOUT` says.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_millis(250);

/// A terminal multiplexer between the command and the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Multiplexer {
    Tmux,
    Screen,
}

/// The multiplexer the command runs inside, if any (`TMUX`, `STY`).
pub(crate) fn multiplexer(env: &impl Fn(&str) -> Option<String>) -> Option<Multiplexer> {
    if env("TMUX").is_some_and(|v| !v.is_empty()) {
        Some(Multiplexer::Tmux)
    } else if env("STY").is_some_and(|v| !v.is_empty()) {
        Some(Multiplexer::Screen)
    } else {
        None
    }
}

/// The protocol the terminal's own variables name, if they name one.
/// Inside tmux these are the outer terminal's (tmux keeps the variables
/// of the terminal it was started from, except `TERM` and `TERM_PROGRAM`).
pub(crate) fn from_env(env: &impl Fn(&str) -> Option<String>) -> Option<Protocol> {
    let is = |name: &str, value: &str| env(name).is_some_and(|v| v == value);
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let term = env("TERM").unwrap_or_default();
    if set("KITTY_WINDOW_ID")
        || term == "xterm-kitty"
        || term == "xterm-ghostty"
        || is("TERM_PROGRAM", "ghostty")
        || set("KONSOLE_VERSION")
    {
        Some(Protocol::Kitty)
    } else if is("TERM_PROGRAM", "iTerm.app")
        || is("LC_TERMINAL", "iTerm2")
        || is("TERM_PROGRAM", "WezTerm")
        || set("WEZTERM_EXECUTABLE")
        || is("TERM_PROGRAM", "vscode")
        || is("TERM_PROGRAM", "mintty")
    {
        Some(Protocol::Iterm)
    } else if term.starts_with("foot") || term.starts_with("mlterm") || set("WT_SESSION") {
        Some(Protocol::Sixel)
    } else {
        None
    }
}

/// `VESTIS_PREVIEW_TIMEOUT` (e.g. `1s` over a slow SSH link), else [`QUERY_TIMEOUT`].
pub(crate) fn query_timeout(env: &impl Fn(&str) -> Option<String>) -> Duration {
    env("VESTIS_PREVIEW_TIMEOUT")
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .map_or(QUERY_TIMEOUT, |d| d.min(Duration::from_secs(10)))
}

/// What a terminal's answer says, `None` for no (complete) answer.
pub(crate) fn parse_answer(answer: &[u8]) -> Option<Protocol> {
    let text = String::from_utf8_lossy(answer);
    let da1 = text.find("\x1b[?")?;
    let end = text[da1..].find('c')? + da1;
    if text.contains("\x1b_Gi=31;OK") {
        return Some(Protocol::Kitty);
    }
    let sixel = text[da1 + 3..end].split(';').any(|a| a == "4");
    Some(if sixel {
        Protocol::Sixel
    } else {
        Protocol::Blocks
    })
}

/// kitty's graphics query (a 1×1 image, not stored: `a=q`), then DA1.
#[cfg(unix)]
const QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[c";

/// How the capability query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The protocol the terminal's answer names; `None`: no answer in time
    /// (or no terminal to ask).
    Supports(Option<Protocol>),
    /// Ctrl-C was typed while the terminal was in raw mode, where it is a
    /// byte, not a signal: the command stops as Ctrl-C stops it elsewhere.
    Interrupted,
    /// A caught terminating signal (`SIGTERM`, `SIGHUP`) cut the wait short:
    /// the command must end on it, not go on to draw.
    Signalled,
}

/// Asks the controlling terminal (`/dev/tty`) and reads its answer for at
/// most `timeout`.
#[cfg(unix)]
pub(crate) fn query(timeout: Duration) -> Answer {
    use std::io::{Read, Write};
    use std::time::Instant;

    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};

    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Answer::Supports(None);
    };
    let Ok(saved) = tcgetattr(&tty) else {
        return Answer::Supports(None);
    };
    /// Puts the terminal's settings back however the query ends.
    struct Restore<'a>(&'a std::fs::File, rustix::termios::Termios);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = tcsetattr(self.0, OptionalActions::Now, &self.1);
        }
    }
    let mut raw = saved.clone();
    raw.make_raw();
    if tcsetattr(&tty, OptionalActions::Now, &raw).is_err() {
        return Answer::Supports(None);
    }
    let restore = Restore(&tty, saved);
    let _ = (&*restore.0).write_all(QUERY);
    let _ = (&*restore.0).flush();
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    let outcome = loop {
        if answer.contains(&0x03) {
            break Answer::Interrupted;
        }
        if let Some(protocol) = parse_answer(&answer) {
            break Answer::Supports(Some(protocol));
        }
        let Some(left) = timeout.checked_sub(start.elapsed()) else {
            break Answer::Supports(None);
        };
        let wait = Timespec {
            tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: left.subsec_nanos().into(),
        };
        let mut fds = [PollFd::new(&tty, PollFlags::IN)];
        match poll(&mut fds, Some(&wait)) {
            Ok(0) => break Answer::Supports(None),
            Ok(_) => match (&*restore.0).read(&mut buf) {
                Ok(0) | Err(_) => break Answer::Supports(None),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            // A caught signal (SIGTERM, SIGHUP: the only handlers the CLI
            // installs) interrupts the wait: the terminal is restored now
            // and the command ends on that signal.
            Err(rustix::io::Errno::INTR) => break Answer::Signalled,
            Err(_) => break Answer::Supports(None),
        }
    };
    drop(restore);
    let said = match outcome {
        Answer::Supports(Some(protocol)) => format!("{protocol:?}"),
        Answer::Supports(None) => "no answer".to_owned(),
        Answer::Interrupted => "Ctrl-C".to_owned(),
        Answer::Signalled => "a signal".to_owned(),
    };
    tracing::debug!(
        "terminal capability query: {said} after {} ms ({} bytes of answer)",
        start.elapsed().as_millis(),
        answer.len()
    );
    outcome
}

/// Off Unix there is no terminal to ask: the environment alone decides.
#[cfg(not(unix))]
pub(crate) fn query(_timeout: Duration) -> Answer {
    Answer::Supports(None)
}

/// Whether tmux passes escape sequences through to the outer terminal
/// (`allow-passthrough on` or `all`; tmux before 3.3 has no such option
/// and always does). Asks `tmux show`, which answers at once; a tmux that
/// does not within half a second counts as no.
pub(crate) fn tmux_passthrough() -> bool {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let Ok(mut child) = Command::new("tmux")
        .args(["show-options", "-gv", "allow-passthrough"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return false;
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < Duration::from_millis(500) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
    let Ok(output) = child.wait_with_output() else {
        return false;
    };
    let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let unknown_option = String::from_utf8_lossy(&output.stderr).contains("invalid option");
    value == "on" || value == "all" || unknown_option
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn terminals_that_name_themselves_pick_their_protocol() {
        assert_eq!(
            from_env(&env_of(&[("KITTY_WINDOW_ID", "1")])),
            Some(Protocol::Kitty)
        );
        assert_eq!(
            from_env(&env_of(&[("TERM", "xterm-ghostty")])),
            Some(Protocol::Kitty)
        );
        assert_eq!(
            from_env(&env_of(&[("TERM_PROGRAM", "iTerm.app")])),
            Some(Protocol::Iterm)
        );
        assert_eq!(
            from_env(&env_of(&[("LC_TERMINAL", "iTerm2")])),
            Some(Protocol::Iterm)
        );
        assert_eq!(
            from_env(&env_of(&[("TERM", "foot")])),
            Some(Protocol::Sixel)
        );
        assert_eq!(from_env(&env_of(&[("TERM", "xterm-256color")])), None);
        assert_eq!(
            multiplexer(&env_of(&[("TMUX", "/tmp/x,1,0")])),
            Some(Multiplexer::Tmux)
        );
        assert_eq!(
            multiplexer(&env_of(&[("STY", "1.pts")])),
            Some(Multiplexer::Screen)
        );
        assert_eq!(multiplexer(&env_of(&[])), None);
    }

    #[test]
    fn answers_are_read_by_what_they_contain() {
        assert_eq!(
            parse_answer(b"\x1b_Gi=31;OK\x1b\\\x1b[?62;c"),
            Some(Protocol::Kitty)
        );
        assert_eq!(parse_answer(b"\x1b[?63;1;4;22c"), Some(Protocol::Sixel));
        assert_eq!(parse_answer(b"\x1b[?64;14c"), Some(Protocol::Blocks));
        assert_eq!(parse_answer(b"\x1b[?63;1;4"), None, "not complete yet");
        assert_eq!(parse_answer(b""), None);
    }

    #[test]
    fn the_timeout_is_short_unless_configured() {
        assert_eq!(query_timeout(&env_of(&[])), QUERY_TIMEOUT);
        let slow = env_of(&[("VESTIS_PREVIEW_TIMEOUT", "1s")]);
        assert_eq!(query_timeout(&slow), Duration::from_secs(1));
        let silly = env_of(&[("VESTIS_PREVIEW_TIMEOUT", "1h")]);
        assert_eq!(query_timeout(&silly), Duration::from_secs(10));
    }
}
