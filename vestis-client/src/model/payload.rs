//! Request payloads (`chat`, `flat-lay`) and the contract's validation
//! rules, shared by the SDK, the CLI (to refuse bad input before sending)
//! and the mock server (to answer `400 invalid_request`).

use serde::{Deserialize, Serialize};

use super::JobKind;

/// The payload of a `chat` job: a prompt and optional reference images.
///
/// # Examples
///
/// ```
/// use vestis_client::ChatRequest;
/// let req = ChatRequest::new("a linen summer dress").image("https://example.com/ref.png");
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["prompt"], "a linen summer dress");
/// assert_eq!(json["images"][0], "https://example.com/ref.png");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive] // the API may add optional fields: build it with `new`
pub struct ChatRequest {
    /// What to generate; must be non-empty after trimming.
    pub prompt: String,
    /// Reference images: URLs or `data:` URIs.
    #[serde(default)]
    pub images: Vec<String>,
}

impl ChatRequest {
    /// A prompt with no reference images.
    ///
    /// # Examples
    ///
    /// ```
    /// let req = vestis_client::ChatRequest::new("a linen summer dress");
    /// assert!(req.images.is_empty());
    /// ```
    pub fn new(prompt: impl Into<String>) -> ChatRequest {
        ChatRequest {
            prompt: prompt.into(),
            images: Vec::new(),
        }
    }

    /// Adds a reference image (a URL or a `data:` URI).
    ///
    /// # Examples
    ///
    /// ```
    /// let req = vestis_client::ChatRequest::new("like this").image("https://example.com/a.png");
    /// assert_eq!(req.images.len(), 1);
    /// ```
    pub fn image(mut self, image: impl Into<String>) -> ChatRequest {
        self.images.push(image.into());
        self
    }
}

/// The payload of a `flatlay` job, serialised camelCase as the guide sends it.
///
/// # Examples
///
/// ```
/// use vestis_client::FlatlayRequest;
/// let req = FlatlayRequest::new("1", "2", vec![serde_json::json!({"sku": "A1"})]);
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["modelId"], "1");
/// assert_eq!(json["backgroundId"], "2");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive] // the API may add optional fields: build it with `new`
pub struct FlatlayRequest {
    /// The model to dress (a non-empty string or a number on the wire).
    pub model_id: serde_json::Value,
    /// The background to use (a non-empty string or a number on the wire).
    pub background_id: serde_json::Value,
    /// The products to lay out; must be non-empty.
    pub products: Vec<serde_json::Value>,
}

impl FlatlayRequest {
    /// A flat-lay of `products` on `model_id` against `background_id`
    /// (ids as strings or numbers, as the guide sends them).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// let req = vestis_client::FlatlayRequest::new(12, "beach", vec![json!({"sku": "A1"})]);
    /// assert_eq!(serde_json::to_value(&req).unwrap()["modelId"], 12);
    /// ```
    pub fn new(
        model_id: impl Into<serde_json::Value>,
        background_id: impl Into<serde_json::Value>,
        products: Vec<serde_json::Value>,
    ) -> FlatlayRequest {
        FlatlayRequest {
            model_id: model_id.into(),
            background_id: background_id.into(),
            products,
        }
    }
}

/// Why a payload breaks the contract's rules for its job kind. Its text is
/// what the mock server sends as `error` with `400 invalid_request`, e.g.
/// `prompt is required`.
///
/// # Examples
///
/// ```
/// use vestis_client::{validate_payload, InvalidPayload, JobKind};
/// let err = validate_payload(JobKind::Flatlay, &serde_json::json!({"modelId": 1})).unwrap_err();
/// assert_eq!(err.field(), Some("backgroundId"));
/// assert!(matches!(err, InvalidPayload::BadId(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPayload {
    /// The payload is not a JSON object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// A required field is absent, null or blank.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field that must be a string is something else.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// A field that must be an array of strings is something else.
    #[error("{0} must be an array of strings")]
    NotStrings(&'static str),
    /// A flat-lay id that is not a non-empty string or a number.
    #[error("{0} is required and must be a non-empty string or a number")]
    BadId(&'static str),
    /// A flat-lay without products.
    #[error("{0} is required and must be a non-empty array")]
    EmptyArray(&'static str),
}

impl InvalidPayload {
    /// The field at fault, `None` when the payload as a whole is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{validate_payload, JobKind};
    /// let err = validate_payload(JobKind::Chat, &serde_json::json!([1])).unwrap_err();
    /// assert_eq!(err.field(), None, "not an object at all");
    /// ```
    pub fn field(&self) -> Option<&'static str> {
        match *self {
            InvalidPayload::NotAnObject => None,
            InvalidPayload::Missing(field)
            | InvalidPayload::NotAString(field)
            | InvalidPayload::NotStrings(field)
            | InvalidPayload::BadId(field)
            | InvalidPayload::EmptyArray(field) => Some(field),
        }
    }
}

/// Checks a payload against the contract's rules for `kind`.
///
/// The mock server answers `400 invalid_request` with this message; the SDK
/// and CLI use it to reject bad input before sending anything.
///
/// # Errors
///
/// [`InvalidPayload`] naming the first rule the payload breaks: not an
/// object; a chat without a non-blank `prompt`; a `prompt` that is not a
/// string; `images` that are not strings; a flat-lay without `modelId`,
/// `backgroundId` or `products`.
///
/// # Examples
///
/// ```
/// use vestis_client::{validate_payload, InvalidPayload, JobKind};
/// use serde_json::json;
/// assert!(validate_payload(JobKind::Chat, &json!({"prompt": "hi"})).is_ok());
/// let err = validate_payload(JobKind::Chat, &json!({"prompt": "  "})).unwrap_err();
/// assert_eq!(err, InvalidPayload::Missing("prompt"));
/// assert_eq!(err.to_string(), "prompt is required");
/// ```
pub fn validate_payload(kind: JobKind, payload: &serde_json::Value) -> Result<(), InvalidPayload> {
    use serde_json::Value;
    let Some(obj) = payload.as_object() else {
        return Err(InvalidPayload::NotAnObject);
    };
    let prompt = |required: bool| match obj.get("prompt") {
        Some(Value::String(s)) if !required || !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(InvalidPayload::Missing("prompt")),
        None | Some(Value::Null) if required => Err(InvalidPayload::Missing("prompt")),
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(InvalidPayload::NotAString("prompt")),
    };
    let images = || match obj.get("images") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(InvalidPayload::NotStrings("images")),
    };
    match kind {
        JobKind::Chat => {
            prompt(true)?;
            images()
        }
        JobKind::Flatlay => {
            for field in ["modelId", "backgroundId"] {
                match obj.get(field) {
                    Some(Value::String(s)) if !s.trim().is_empty() => {}
                    Some(Value::Number(_)) => {}
                    _ => return Err(InvalidPayload::BadId(field)),
                }
            }
            match obj.get("products") {
                Some(Value::Array(items)) if !items.is_empty() => Ok(()),
                _ => Err(InvalidPayload::EmptyArray("products")),
            }
        }
        JobKind::Mdoli | JobKind::Onmodel | JobKind::Background | JobKind::Legacy => {
            prompt(false)?;
            images()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn validation_follows_the_contract_table() {
        let ok = |k, v: Value| validate_payload(k, &v).is_ok();
        assert!(ok(JobKind::Chat, json!({"prompt": "x", "images": ["a"]})));
        assert!(!ok(JobKind::Chat, json!({"prompt": 3})));
        assert!(!ok(JobKind::Chat, json!({"prompt": "x", "images": [1]})));
        assert!(!ok(JobKind::Chat, json!([])));
        assert!(ok(
            JobKind::Flatlay,
            json!({"modelId": 1, "backgroundId": "2", "products": [{}]})
        ));
        assert!(!ok(
            JobKind::Flatlay,
            json!({"modelId": "", "backgroundId": "2", "products": [{}]})
        ));
        assert!(!ok(
            JobKind::Flatlay,
            json!({"modelId": "1", "backgroundId": "2", "products": []})
        ));
        assert!(ok(JobKind::Legacy, json!({})));
        assert!(ok(JobKind::Onmodel, json!({"anything": true})));
        assert!(!ok(JobKind::Background, json!({"prompt": false})));
        assert!(!ok(JobKind::Mdoli, json!("text")));

        // The texts are the mock server's 400 messages: each names its field.
        let why = |k, v: Value| validate_payload(k, &v).unwrap_err().to_string();
        assert_eq!(why(JobKind::Chat, json!({})), "prompt is required");
        assert_eq!(
            why(JobKind::Chat, json!({"prompt": 3})),
            "prompt must be a string"
        );
        assert_eq!(
            why(JobKind::Legacy, json!({"images": "a"})),
            "images must be an array of strings"
        );
        assert_eq!(
            why(JobKind::Flatlay, json!({"modelId": 1, "products": [1]})),
            "backgroundId is required and must be a non-empty string or a number"
        );
        assert_eq!(
            why(JobKind::Flatlay, json!({"modelId": 1, "backgroundId": 2})),
            "products is required and must be a non-empty array"
        );
        assert_eq!(
            why(JobKind::Chat, json!(null)),
            "request body must be a JSON object"
        );
        assert_eq!(
            validate_payload(JobKind::Chat, &json!({"prompt": ""}))
                .unwrap_err()
                .field(),
            Some("prompt")
        );
    }
}
