//! What the HTTP layer reads off a request for everyone above it: the
//! body as the body reader kept it, and the bearer token of the
//! `Authorization` header. Imports nothing of the crate, so the handlers,
//! the journal and the front all read one parser and one type.

use axum::body::Bytes;

/// The body the server read for a request (set by the body reader,
/// `http::conn::ReadBody`), so the handlers and the journal can use it
/// without reading the body themselves.
#[derive(Debug, Clone)]
pub(crate) struct RequestBytes(pub(crate) Bytes);

/// The token of `Authorization: Bearer <token>`, if the header is well formed.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    if value.is_ascii() {
        bearer_ascii(value)
    } else {
        bearer_text(value)
    }
}

/// [`bearer`] on ASCII (every header `HeaderValue::to_str` lets through):
/// the same answer as [`bearer_text`], on bytes, for the per-request path.
fn bearer_ascii(value: &str) -> Option<&str> {
    // ASCII's `char::is_whitespace`, which `str::trim` uses.
    let space = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ');
    // What clients send: `Bearer ` and a token without whitespace, in one scan.
    if let Some(token) = value.strip_prefix("Bearer ")
        && !token.is_empty()
        && !token.as_bytes().iter().any(space)
    {
        return Some(token);
    }
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|b| !space(b))?;
    let end = bytes.iter().rposition(|b| !space(b))? + 1;
    let trimmed = &bytes[start..end];
    let gap = trimmed.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = (&trimmed[..gap], &trimmed[gap + 1..]);
    let first = rest.iter().position(|b| !space(b))?;
    let token = &rest[first..];
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.iter().any(space)).then(|| {
        let offset = start + gap + 1 + first;
        &value[offset..offset + token.len()]
    })
}

/// [`bearer`] on any text.
fn bearer_text(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && !token.contains(char::is_whitespace))
    .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte path gives the text path's answer on every ASCII header.
    #[test]
    fn bearer_on_bytes_matches_bearer_on_text() {
        let fixed = [
            "Bearer t",
            "bearer t",
            "BEARER t",
            "Bearer  t",
            " Bearer t ",
            "Bearer",
            "Bearer ",
            "Bearer t u",
            "Basic t",
            "Bearer\tt",
            "\tBearer t\r\n",
            "Bearer t\x0b",
            "",
            " ",
            "Bearerx t",
            "Bearer \x0ct",
        ];
        for value in fixed {
            assert_eq!(bearer_ascii(value), bearer_text(value), "{value:?}");
        }
        let alphabet = b" \t\n\x0b\x0c\rBbEeAaRrt-x.";
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..50_000 {
            let value: String = (0..rng.usize(0..14))
                .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                .collect();
            let value = if rng.bool() {
                format!("Bearer {value}")
            } else {
                value
            };
            assert_eq!(bearer_ascii(&value), bearer_text(&value), "{value:?}");
        }
    }
}
