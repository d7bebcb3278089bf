//! A JSON extractor whose rejections use the API's error shape: 400 for unreadable JSON,
//! 415 for a wrong content type, 413 for a body over the limit, 422 for a well-formed body
//! with wrong, missing or unknown fields — each named in `details` (`policy.mx[2]`) with
//! what is wrong in plain words, not serde's wording.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// `axum::Json` with the API's rejections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is over the limit",
                )
            } else {
                ApiError::bad_request(format!("the request body cannot be read: {e}"))
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Reads a whole JSON document into `T`, which is an object: every request body is one.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde fills a struct from an array too, field by field in order; nobody means that,
    // and the errors it gives (`[0]`) would name no field.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::invalid_field("body", "must be a JSON object"),
                Err(e) => not_json(&e),
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, &inner),
            _ => not_json(&inner),
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not valid JSON: {e}"))
}

/// 422 naming the field: the path to the bad value, or for a missing field the path to the
/// object that lacks it, plus its name.
fn field_error(path: &str, e: &serde_json::Error) -> ApiError {
    // serde_json appends the position; it means nothing next to a field name.
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let (missing, message) = plain(text);
    let at = if path == "." { "" } else { path };
    let field = match (at, missing) {
        ("", Some(child)) => child,
        (parent, Some(child)) => format!("{parent}.{child}"),
        ("", None) => "body".to_owned(),
        (at, None) => at.to_owned(),
    };
    ApiError::validation(vec![FieldError { field, message }])
}

/// serde's message in plain words: the missing field it names, if any (serde reports it at
/// the object lacking it), and what is wrong. Messages of our own types (`DomainName`, …)
/// are plain already and kept.
fn plain(text: &str) -> (Option<String>, String) {
    if let Some(rest) = text.strip_prefix("missing field ") {
        return (Some(unquote(rest)), "is required".to_owned());
    }
    // The path already ends at the unknown field.
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let expected = rest.split_once(", ").map_or("", |(_, e)| e);
        let known = names(expected);
        let message = if known.is_empty() {
            "is not a field of this request".to_owned()
        } else {
            format!("is not a field of this request; the fields are {known}")
        };
        return (None, message);
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let (got, expected) = rest.split_once(", ").unwrap_or((rest, ""));
        return (
            None,
            format!("must be one of {}, not {}", names(expected), unquote(got)),
        );
    }
    for (prefix, verb) in [
        ("invalid type: ", "must be"),
        ("invalid value: ", "must be"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix)
            && let Some((got, want)) = rest.rsplit_once(", expected ")
        {
            return (None, format!("{verb} {}, not {}", wanted(want), given(got)));
        }
    }
    if let Some(rest) = text.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return (None, format!("must hold {expected}"));
    }
    (None, text.to_owned())
}

/// `` `name` `` without its backticks.
fn unquote(s: &str) -> String {
    s.trim().trim_matches('`').to_owned()
}

/// serde's list of expected names (`` expected one of `a`, `b` ``) as `a, b`.
fn names(expected: &str) -> String {
    let list = expected
        .trim_start_matches("expected one of ")
        .trim_start_matches("expected ");
    if list.starts_with("there are no") {
        return String::new();
    }
    list.split(", ")
        .map(unquote)
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What serde expected (a Rust type or serde's phrase), for a person writing JSON.
fn wanted(want: &str) -> String {
    let plain = match want.trim() {
        "a string" | "a borrowed string" | "a string or null" => "a string",
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "an object",
        other if other.starts_with("struct ") => "an object",
        other => return other.to_owned(),
    };
    plain.to_owned()
}

/// What the body held instead, from serde's `Unexpected` wording.
fn given(got: &str) -> String {
    let got = got.trim();
    if let Some(v) = got
        .strip_prefix("integer ")
        .or_else(|| got.strip_prefix("floating point "))
    {
        return format!("the number {}", unquote(v));
    }
    if let Some(v) = got.strip_prefix("boolean ") {
        return unquote(v);
    }
    if got.starts_with("string ") {
        return "a string".to_owned();
    }
    match got {
        "null" => "null".to_owned(),
        "map" => "an object".to_owned(),
        "sequence" => "a list".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug only")]
    struct Inner {
        mx: Vec<String>,
        max_age: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug only")]
    struct Outer {
        name: String,
        flag: Option<bool>,
        policy: Option<Inner>,
        small: Option<u32>,
    }

    /// The one field error of parsing `body`.
    fn error(body: &str) -> (String, String) {
        let e = parse::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(
            e.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            e.message()
        );
        let (field, message) = e.message().split_once(": ").unwrap();
        (field.to_owned(), message.to_owned())
    }

    #[test]
    fn fields_are_named_in_plain_words() {
        let cases = [
            (
                r#"{"name": 5}"#,
                "name",
                "must be a string, not the number 5",
            ),
            (r#"{}"#, "name", "is required"),
            (
                r#"{"name": "a", "extra": 1}"#,
                "extra",
                "is not a field of this request; the fields are name, flag, policy, small",
            ),
            (
                r#"{"name": "a", "flag": "yes"}"#,
                "flag",
                "must be true or false, not a string",
            ),
            (
                r#"{"name": "a", "policy": {"mx": ["a", 7], "max_age": 1}}"#,
                "policy.mx[1]",
                "must be a string, not the number 7",
            ),
            (
                r#"{"name": "a", "policy": {"mx": []}}"#,
                "policy.max_age",
                "is required",
            ),
            (
                r#"{"name": "a", "policy": {"mx": [], "max_age": -1}}"#,
                "policy.max_age",
                "must be a whole number, 0 or more, not the number -1",
            ),
            (
                r#"{"name": "a", "small": 99999999999}"#,
                "small",
                "must be a whole number from 0 to 4294967295, not the number 99999999999",
            ),
            (
                r#"{"name": "a", "policy": "testing"}"#,
                "policy",
                "must be an object, not a string",
            ),
            (r#"[1]"#, "body", "must be a JSON object"),
            (r#""x""#, "body", "must be a JSON object"),
        ];
        for (body, field, message) in cases {
            assert_eq!(
                error(body),
                (field.to_owned(), message.to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn unreadable_json_is_a_bad_request() {
        for body in [
            "{\"name\": ",
            "{\"name\": \"a\"} trailing",
            "\u{feff}{}",
            "",
        ] {
            let e = parse::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(
                e.status(),
                StatusCode::BAD_REQUEST,
                "{body}: {}",
                e.message()
            );
            assert!(
                e.message().starts_with("the body is not valid JSON"),
                "{}",
                e.message()
            );
        }
    }

    #[test]
    fn content_types() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            h
        };
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(json_content_type(&headers(ok)), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "text/json"] {
            assert!(!json_content_type(&headers(bad)), "{bad}");
        }
        assert!(!json_content_type(&HeaderMap::new()));
    }
}
