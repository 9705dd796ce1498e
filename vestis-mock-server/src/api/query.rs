//! Query strings, read one way for the API and the admin API alike: the
//! pairs, the job kind a create selects, and the page numbers both list
//! routes take. One parser, so `?page=` means the same thing on
//! `/api/v1/jobs` and `/__admin/jobs`.

use std::borrow::Cow;

use vestis_client::JobKind;

use crate::errors::ApiError;

/// A query string's pairs, percent-decoded (malformed escapes are kept
/// as text), borrowed from the query where nothing needed decoding.
pub(crate) type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The query string's pairs (see [`Pairs`]).
pub(crate) fn query_pairs(query: Option<&str>) -> Pairs<'_> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).collect()
}

/// The last value of `name` in `pairs`, if it is there.
pub(crate) fn last<'p>(pairs: &'p Pairs<'_>, name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// The largest page number either API accepts: the OpenAPI document's
/// int64 bound.
pub(crate) const MAX_PAGE: u64 = i64::MAX as u64;

/// A page number or page size, `1..=max`, written as ASCII digits only:
/// the contract's "not a number" is anything else, `+1`, `-1`, `1.0` and
/// ` 1` included (`u64::from_str` alone would take `+1`).
///
/// # Errors
///
/// `400 invalid_request` naming `name`, the bound and the value given.
pub(crate) fn page_number(name: &str, value: &str, max: u64) -> Result<u64, ApiError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u64>() {
        Ok(n) if digits && (1..=max).contains(&n) => Ok(n),
        _ if max == MAX_PAGE => Err(ApiError::invalid(format!(
            "{name} must be a positive integer, got {value:?}"
        ))),
        _ => Err(ApiError::invalid(format!(
            "{name} must be an integer from 1 to {max}, got {value:?}"
        ))),
    }
}

/// Which job kind the query selects: `TYPE=true|1` selects, `TYPE=false|0` does not.
pub(crate) fn selected_kind(pairs: &Pairs<'_>) -> Result<JobKind, ApiError> {
    let mut selected = Vec::new();
    for (key, value) in pairs {
        let Some(kind) = JobKind::ALL
            .into_iter()
            .find(|&k| vestis_client::wire::generate_flag(k) == Some(key.as_ref()))
        else {
            continue; // unknown query parameters are ignored
        };
        // Case-insensitive, and a bare `?chat` selects too: forgiving of
        // hand-written URLs without changing what the guide sends.
        let is = |word: &str| value.eq_ignore_ascii_case(word);
        if is("true") || is("1") || is("") {
            if !selected.contains(&kind) {
                selected.push(kind);
            }
        } else if is("false") || is("0") {
            selected.retain(|k| *k != kind);
        } else {
            return Err(ApiError::invalid(format!(
                "{key} must be true, false, 1 or 0, got {:?}",
                value.to_ascii_lowercase()
            )));
        }
    }
    match selected.as_slice() {
        [] => Ok(JobKind::Legacy),
        [one] => Ok(*one),
        _ => Err(ApiError::invalid(
            "Select at most one job type (chat, flatlay, mdoli, onmodel or background)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Pairs<'_> {
        query_pairs(Some(q))
    }

    #[test]
    fn page_numbers_are_digits_in_range() {
        for (value, max, want) in [
            ("1", 100, Some(1)),
            ("100", 100, Some(100)),
            ("007", 100, Some(7)),
            ("9223372036854775807", MAX_PAGE, Some(MAX_PAGE)),
            ("101", 100, None),
            ("0", 100, None),
            ("", 100, None),
            ("+1", 100, None),
            ("-1", 100, None),
            (" 1", 100, None),
            ("1 ", 100, None),
            ("1.0", 100, None),
            ("x", 100, None),
            ("9223372036854775808", MAX_PAGE, None),
            ("99999999999999999999", MAX_PAGE, None),
        ] {
            assert_eq!(page_number("page", value, max).ok(), want, "{value:?}");
        }
        let err = page_number("page_size", "+1", 100).unwrap_err();
        assert!(format!("{err:?}").contains("page_size"), "{err:?}");
    }

    #[test]
    fn the_last_value_counts() {
        assert_eq!(last(&pairs("page=1&page=2"), "page"), Some("2"));
        assert_eq!(last(&pairs("size=1"), "page"), None);
    }

    #[test]
    fn kind_selection_follows_the_contract() {
        assert_eq!(selected_kind(&pairs("")).unwrap(), JobKind::Legacy);
        assert_eq!(selected_kind(&pairs("chat=true")).unwrap(), JobKind::Chat);
        assert_eq!(
            selected_kind(&pairs("flatlay=1")).unwrap(),
            JobKind::Flatlay
        );
        assert_eq!(
            selected_kind(&pairs("chat=false")).unwrap(),
            JobKind::Legacy
        );
        assert_eq!(
            selected_kind(&pairs("chat=false&mdoli=true")).unwrap(),
            JobKind::Mdoli
        );
        assert_eq!(
            selected_kind(&pairs("other=x&onmodel=true")).unwrap(),
            JobKind::Onmodel
        );
        assert!(selected_kind(&pairs("chat=true&flatlay=true")).is_err());
        assert!(selected_kind(&pairs("chat=yes")).is_err());
        assert_eq!(selected_kind(&pairs("chat=TRUE")).unwrap(), JobKind::Chat);
        assert_eq!(
            selected_kind(&pairs("background")).unwrap(),
            JobKind::Background
        );
        assert_eq!(
            selected_kind(&pairs("chat=False")).unwrap(),
            JobKind::Legacy
        );
        assert!(selected_kind(&pairs("legacy=true")).is_ok());
    }

    #[test]
    fn query_decoding_handles_escapes() {
        assert_eq!(
            pairs("a=b%20c&d=e+f&g&h=%zz&i=%4"),
            Pairs::from([
                ("a".into(), "b c".into()),
                ("d".into(), "e f".into()),
                ("g".into(), "".into()),
                ("h".into(), "%zz".into()),
                ("i".into(), "%4".into()),
            ])
        );
    }
}
