//! Terminal-safe text: what a server or a user wrote (a job's error, an
//! image URL, an API message, a file name) never reaches the terminal raw.
//!
//! Every human line the CLI writes passes through [`terminal_safe`] at the
//! one place it is written (`Output::human`, `say`, the live display), so a
//! job error such as `"\x1b]0;owned\x07"` shows as `\u{1b}]0;owned\u{7}`
//! instead of retitling the window, moving the cursor or erasing lines.
//! `--json` output needs nothing more: JSON escapes every control character.

use std::borrow::Cow;
use std::path::Path;

/// `text` with every control character except `\n` written as a Rust-style
/// escape (`\u{1b}`, `\r`, `\t`): C0 controls, DEL and the C1 range, which
/// some terminals also obey. Newlines stay, since the CLI's own multi-line
/// views need them; [`one_line`] escapes them too.
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, |c| c != '\n' && c.is_control())
}

/// Like [`terminal_safe`], but `\n` is escaped too: for text that must stay
/// on one line (a live spinner's message).
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, char::is_control)
}

/// A path as one line of text, for people: the name exactly, except that a
/// byte that is not UTF-8 shows as `\xE9` and a control character
/// (newline included) as its escape. Linux allows both in file names; the
/// file on disk keeps its exact name, only its display is escaped.
pub(crate) fn path(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in path.as_os_str().as_bytes().utf8_chunks() {
            out.push_str(&one_line(chunk.valid()));
            for byte in chunk.invalid() {
                out.push_str(&format!("\\x{byte:02X}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        one_line(&path.to_string_lossy()).into_owned()
    }
}

fn escape(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_kept() {
        assert_eq!(terminal_safe("job 3 failed: GPU"), "job 3 failed: GPU");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_safe("a\x1b[2Jb\x07\rc\u{9b}d\x7f"),
            "a\\u{1b}[2Jb\\u{7}\\rc\\u{9b}d\\u{7f}"
        );
        assert_eq!(terminal_safe("two\nlines\ttab"), "two\nlines\\ttab");
        assert_eq!(one_line("two\nlines"), "two\\nlines");
        assert_eq!(terminal_safe("é ✔ 日本"), "é ✔ 日本");
    }

    #[cfg(unix)]
    #[test]
    fn paths_show_on_one_line_with_bytes_that_are_not_utf8_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"r\xe9s/caf\xc3\xa9\n2.png");
        assert_eq!(path(Path::new(name)), "r\\xE9s/café\\n2.png");
        assert_eq!(path(Path::new("/tmp/a b.png")), "/tmp/a b.png");
    }
}
