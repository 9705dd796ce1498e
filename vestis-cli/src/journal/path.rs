//! Paths in the journal, kept exactly: Linux allows any bytes but `/` and
//! NUL in a file name, JSON strings hold only Unicode, and serde refuses a
//! `PathBuf` that is not UTF-8 ("path contains invalid UTF-8 characters"),
//! which made `generate -o $'caf\xe9.png'` fail before creating its job.
//!
//! A UTF-8 path is stored as a plain string, as before (journals read
//! unchanged); any other as `{"path_bytes": "<base64 of its bytes>"}`.

use std::path::PathBuf;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One stored path, in either form.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Text(String),
    Bytes { path_bytes: String },
}

fn store(path: &std::path::Path) -> Stored {
    if let Some(text) = path.to_str() {
        return Stored::Text(text.to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Stored::Bytes {
            path_bytes: BASE64.encode(path.as_os_str().as_bytes()),
        }
    }
    #[cfg(not(unix))]
    Stored::Text(path.to_string_lossy().into_owned())
}

fn load<E: serde::de::Error>(stored: Stored) -> Result<PathBuf, E> {
    match stored {
        Stored::Text(text) => Ok(PathBuf::from(text)),
        Stored::Bytes { path_bytes } => {
            let bytes = BASE64
                .decode(path_bytes)
                .map_err(|e| E::custom(format!("path_bytes is not base64: {e}")))?;
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStringExt;
                Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
            }
            #[cfg(not(unix))]
            Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

/// `#[serde(with = "path::optional")]` for an `Option<PathBuf>`.
pub(crate) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        path: &Option<PathBuf>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        path.as_deref().map(store).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        Option::<Stored>::deserialize(deserializer)?
            .map(load)
            .transpose()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(default, with = "optional")]
        output: Option<PathBuf>,
    }

    #[test]
    fn any_linux_file_name_round_trips_and_utf8_stays_a_string() {
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9\n.png"));
        let text = serde_json::to_string(&Holder {
            output: Some(odd.clone()),
        })
        .unwrap();
        assert_eq!(text, r#"{"output":{"path_bytes":"L3RtcC9jYWbpCi5wbmc="}}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.output, Some(odd));
        let plain = Holder {
            output: Some(PathBuf::from("/tmp/café.png")),
        };
        let text = serde_json::to_string(&plain).unwrap();
        assert_eq!(text, r#"{"output":"/tmp/café.png"}"#);
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), plain);
        assert_eq!(
            serde_json::from_str::<Holder>("{}").unwrap(),
            Holder { output: None }
        );
    }
}
