//! Extractors whose rejections speak the API's error body: a JSON body, a
//! path id, a query string, and the logged-in user with their role checked
//! before the body is even read.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use pricegate_domain::Role;
use pricegate_store::views::UserView;
use pricegate_store::{Actor, ClientInfo};
use serde::de::DeserializeOwned;

use crate::{AppError, AppState};

/// A JSON body; every way it can be wrong becomes a 4xx with a code.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        QueryOnChange::refuse(req.extensions(), req.method())?;
        readable_as_sent(req.headers())?;
        if !has_json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(Default::default())));
        }
        in_utf8(req.headers())?;
        let bytes = read_body(req.into_body(), crate::api::JSON_BODY_LIMIT).await?;
        object_from(&bytes).map(ApiJson)
    }
}

/// The JSON object `bytes` hold, read into a `T`.
fn object_from<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let Some(&first) = bytes.iter().find(|b| !json_space(b)) else {
        return Err(malformed("the body is empty"));
    };
    // Every body is an object. A deserialiser would take a list for one
    // (its fields in order) and talk of the first element's type.
    if first != b'{' {
        return Err(match syntax_error(bytes) {
            Some(e) => malformed(&e),
            None => not_an_object(first),
        });
    }
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        // The deserialiser stops at the first field of the wrong shape, before
        // it reaches broken syntax further on (`{"emial":`, `{} x`): a body that
        // is not JSON at all is the 400 first.
        Err(JsonRejection::JsonDataError(e)) => Err(match syntax_error(bytes) {
            Some(e) => malformed(&e),
            None => json_rejection(JsonRejection::JsonDataError(e)),
        }),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

/// The body of a request whose every field may be left out: none, `null`
/// or `{}` (of any media type, as [`NoBody`] takes them) is `T::default()`;
/// anything else is read as [`ApiJson`] reads a body.
pub struct JsonOrNone<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrNone<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        QueryOnChange::refuse(req.extensions(), req.method())?;
        readable_as_sent(req.headers())?;
        let typed = has_json_content_type(req.headers());
        let utf8 = in_utf8(req.headers());
        let bytes = read_body(req.into_body(), crate::api::JSON_BODY_LIMIT).await?;
        if says_nothing(&bytes) {
            return Ok(JsonOrNone(T::default()));
        }
        if !typed {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(Default::default())));
        }
        utf8?;
        object_from(&bytes).map(JsonOrNone)
    }
}

/// What makes `bytes` not JSON, if anything: its syntax, and every string
/// in it, each of which must be UTF-8 with no lone surrogate escaped (a
/// reader that skips strings unread would let those through).
fn syntax_error(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(bytes).err().map(|e| e.to_string())
}

/// A JSON object inside a body, read into a struct. Serde also reads a
/// struct from a list, its fields in order, so that a line sent as
/// `["PUMP-1", 500, 2]` would be quantity 500 at a 2 bp discount: a list
/// in an object's place is refused as the wrong shape instead. Its
/// functions below are `deserialize_with` for such fields.
struct Object<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(Fields(std::marker::PhantomData)).map(Object)
    }
}

/// A field holding one object (see [`Object`]).
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(<Object<T> as serde::Deserialize>::deserialize(deserializer)?.0)
}

/// A field holding a list of objects (see [`Object`]).
pub(crate) fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(<Vec<Object<T>> as serde::Deserialize>::deserialize(deserializer)?.into_iter().map(|o| o.0).collect())
}

/// A `PATCH` body's field holding one object, as [`not_null`] reads a field.
pub(crate) fn object_not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(not_null::<D, Object<T>>(deserializer)?.map(|o| o.0))
}

/// A `PATCH` body's field holding a list of objects, as [`not_null`] reads a field.
pub(crate) fn objects_not_null<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(not_null::<D, Vec<Object<T>>>(deserializer)?.map(|list| list.into_iter().map(|o| o.0).collect()))
}

/// Whether a body says nothing: none, `{}` or `null`, whatever the
/// whitespace in or around it.
fn says_nothing(bytes: &[u8]) -> bool {
    let compact: Vec<u8> = bytes.iter().copied().filter(|b| !json_space(b)).collect();
    matches!(compact.as_slice(), b"" | b"{}" | b"null")
}

/// JSON's whitespace: space, tab, line feed, carriage return.
fn json_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The body of a request that takes none (acknowledge, finalise, publish,
/// …): none, or an empty JSON object, or `null`. Anything else is refused
/// with 422 `invalid_body`, since it would be ignored: a client sending
/// `{"user_id": …}` to acknowledge is told, not left believing it
/// acknowledged for someone else.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        readable_as_sent(req.headers())?;
        let bytes = read_body(req.into_body(), crate::api::JSON_BODY_LIMIT).await?;
        match says_nothing(&bytes) {
            true => Ok(NoBody),
            false => Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!(
                    "{method} {path} takes no body, and this one would be ignored: nothing was changed. Send none, or {{}}."
                ),
            )),
        }
    }
}

/// A field of a `PATCH` body that may be left out, keeping what it is, but
/// not sent as `null`: nothing these bodies name can be cleared that way (a
/// quote's notes are emptied with `""`). Use with `#[serde(default)]`.
pub(crate) fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("null is not a value here: leave the field out to keep it as it is")),
    }
}

/// A body is read as sent, of one media type: 415 `unsupported_encoding`
/// for one sent compressed (`Content-Encoding`), which would otherwise be
/// read as garbled JSON, or taken as is when it was not compressed after
/// all; 400 `duplicate_header` for one with `Content-Type` twice, of which
/// only the first would count.
pub(crate) fn readable_as_sent(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    let sent = headers.get_all(axum::http::header::CONTENT_TYPE).iter().count();
    if sent > 1 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "duplicate_header",
            format!("The request carries Content-Type {sent} times; send it once."),
        ));
    }
    let encoded = headers
        .get_all(axum::http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"));
    match encoded {
        Some(coding) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("The body is sent with Content-Encoding {coding}; send it uncompressed, without Content-Encoding."),
        )),
        None => Ok(()),
    }
}

/// A body of a media type read (JSON, CSV) is in UTF-8, or said to be in no
/// other charset: 415 `unsupported_charset` for one said to be in another
/// (Latin-1, say), which would be refused as broken text, or, all ASCII,
/// taken, whatever it meant. Asked only of a body that is read.
pub(crate) fn in_utf8(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    match charset_other_than_utf8(headers) {
        Some(charset) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_charset",
            format!("The body is sent as charset={charset}; send it as UTF-8 (charset=utf-8, or no charset)."),
        )),
        None => Ok(()),
    }
}

/// The `charset` parameter of `Content-Type`, where it names another than
/// UTF-8 or ASCII (a part of it); an empty one names none.
fn charset_other_than_utf8(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    let charset = value.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_owned())
    })?;
    let read = ["", "utf-8", "utf8", "us-ascii", "ascii"].iter().any(|read| charset.eq_ignore_ascii_case(read));
    (!read).then_some(charset)
}

/// `application/json`, or any `application/*+json`, with or without parameters.
fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let essence = content_type_essence(headers);
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The media type of `Content-Type` without its parameters, in lower case
/// (empty when there is none).
pub(crate) fn content_type_essence(headers: &axum::http::HeaderMap) -> String {
    let value = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// How much of an oversized body is still read (and thrown away) before the 413 goes out.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The whole body, at most `limit` bytes. A larger body is refused with 413,
/// but only after the rest of it has been read and discarded (up to
/// [`DRAIN_LIMIT`]): a server that answers and closes while the client is
/// still uploading makes the client see a connection reset, not the answer.
pub(crate) async fn read_body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, AppError> {
    use axum::body::HttpBody;

    let mut body = std::pin::pin!(body);
    let mut kept = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(_)) => return Err(body_rejection(StatusCode::BAD_REQUEST)),
        };
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(body_rejection(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(axum::body::Bytes::from(kept))
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with the header Content-Type: application/json.",
        ),
        JsonRejection::JsonSyntaxError(e) => malformed(&plain_words(&e.body_text())),
        JsonRejection::JsonDataError(e) => invalid_shape(&plain_words(&e.body_text())),
        JsonRejection::BytesRejection(e) => body_rejection(e.status()),
        other => AppError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("The body cannot be read: {}.", other.body_text()),
        ),
    }
}

/// 422 for a well-formed body that is not a JSON object; `first` is its first byte.
fn not_an_object(first: u8) -> AppError {
    let what = match first {
        b'[' => "a list",
        b'"' => "a string",
        b't' | b'f' => "a boolean (true or false)",
        b'n' => "null",
        _ => "a number",
    };
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("The body must be a JSON object ({{\"name\": value, …}}); this one is {what}."),
    )
}

/// 422 for a well-formed body of the wrong shape, said in `text` (the
/// deserialiser's sentence in plain words), naming the field it is about.
fn invalid_shape(text: &str) -> AppError {
    let refused = AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("The body does not have the expected shape: {text}."),
    );
    match field_of(text) {
        Some(field) => refused.with("field", field),
        None => refused,
    }
}

fn malformed(why: &str) -> AppError {
    // JSON sets numbers no bound; past what a 64-bit float holds (`1e400`),
    // the parser stops. The body is well-formed: its number is out of range.
    if why.contains("number out of range") {
        return invalid_shape(&format!("{} is too large", why.replacen("number out of range", "a number", 1)));
    }
    AppError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("The body is not valid JSON: {why}."))
}

/// The field a body's shape error is about, as the API names fields
/// (`lines[0].quantity`), from the deserialiser's sentence: its path (the
/// part before `": "`, `.` for the body itself), and the field a `missing
/// field` or `unknown field` names. `None` when it names no field.
fn field_of(sentence: &str) -> Option<String> {
    let (path, what) = sentence.split_once(": ").unwrap_or((".", sentence));
    // `[0]`: the body is a list where an object belongs, which no field names.
    if path.starts_with('[') {
        return None;
    }
    let path = if path == "." || path.contains(' ') { "" } else { path };
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|p| what.strip_prefix(p))
        .and_then(|rest| rest.split_once('`'))
        // A missing field as `plain_words` says it.
        .or_else(|| what.strip_prefix("the field \u{201c}").and_then(|rest| rest.split_once('\u{201d}')))
        .map(|(name, _)| name);
    match (path, named) {
        ("", None) => None,
        ("", Some(name)) => Some(name.to_owned()),
        (path, None) => Some(path.to_owned()),
        // An unknown field's path already ends with it; a missing one's is its parent's.
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => Some(path.to_owned()),
        (path, Some(name)) => Some(format!("{path}.{name}")),
    }
}

/// A deserialiser's sentence in the words of the API, not of Rust: the
/// extractor's preamble goes, and the names of Rust types it mentions
/// ("expected struct TokenRequest", "expected u64") become what a client
/// sends ("a JSON object", "a whole number").
fn plain_words(message: &str) -> String {
    const PREAMBLES: [&str; 3] = [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to deserialize query string: ",
        "Failed to parse the request body as JSON: ",
    ];
    let message = PREAMBLES.iter().find_map(|p| message.strip_prefix(p)).unwrap_or(message);
    if message.starts_with("EOF while parsing a value at line 1 column 0") {
        return "the body is empty".to_owned();
    }
    // A parameter where a list takes none (`NoParameters`).
    if let Some(name) = message.strip_suffix(", there are no fields").and_then(|m| m.split("unknown field `").nth(1)) {
        return format!("{} is not a parameter here: this takes none", name.trim_end_matches('`'));
    }
    // A field left out: named in words, without where the object ended.
    if let Some((before, after)) = message.split_once("missing field `")
        && let Some((name, _)) = after.split_once('`')
    {
        return format!("{before}the field \u{201c}{name}\u{201d} is missing");
    }
    // What Rust's number and uuid parsing say of a query value.
    let message = match message.find("UUID parsing failed") {
        Some(at) => {
            let place = message[at..].find(" at line ").map_or("", |l| &message[at + l..]);
            format!("{}expected a UUID{place}", &message[..at])
        }
        None => message.to_owned(),
    };
    let message = out_of_range(&message);
    let message = message
        .replace("invalid digit found in string", "expected a whole number")
        .replace("cannot parse integer from empty string", "expected a whole number")
        .replace("number too large to fit in target type", "the number is too large")
        .replace("number too small to fit in target type", "the number is too small");
    // JSON's words for what serde names as Rust's, outside what it quotes
    // back of the body (a key or a value sent stays as sent).
    let message = outside_quotes(
        &message,
        &[
            ("invalid type: map", "invalid type: an object"),
            ("invalid type: sequence", "invalid type: an array"),
            ("invalid type: floating point ", "invalid type: the number "),
            ("expected a sequence", "expected an array"),
            ("expected a map", "expected a JSON object"),
        ],
    );
    // What chrono says of a time in a query (`since`, `until`).
    const TIME: &str =
        "expected a time like 2026-12-01T00:00:00Z (RFC 3339, with its zone; a + in an address is written %2B)";
    let message = ["premature end of input", "input contains invalid characters", "trailing input"]
        .iter()
        .fold(message, |message, said| message.replace(said, TIME))
        .replace("input is out of range", "the time is out of range");
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(at) = rest.find("expected ") {
        let (before, after) = rest.split_at(at + "expected ".len());
        out.push_str(before);
        let word_len = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        let (plain, skip) = if let Some(name) = after.strip_prefix("struct ") {
            ("a JSON object", "struct ".len() + word_len(name))
        } else if let Some(name) = after.strip_prefix("enum ") {
            ("one of the allowed values", "enum ".len() + word_len(name))
        } else {
            let word = &after[..word_len(after)];
            match word {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
                    ("a whole number", word.len())
                }
                "f32" | "f64" => ("a number", word.len()),
                _ => ("", 0),
            }
        };
        out.push_str(plain);
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// `message` with each of `words` replaced by its plain word, only outside
/// the spans it quotes (in backticks, or in double quotes with `\"` inside).
fn outside_quotes(message: &str, words: &[(&str, &str)]) -> String {
    let plain = |text: &str| words.iter().fold(text.to_owned(), |text, (from, to)| text.replace(from, to));
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['`', '"']) {
        out.push_str(&plain(&rest[..at]));
        let mark = rest.as_bytes()[at];
        // Where the quote ends: the next mark not escaped (serde writes a
        // string's own `"` as `\"`), or the end of the message.
        let mut end = None;
        let mut escaped = false;
        for (i, b) in rest.bytes().enumerate().skip(at + 1) {
            match b {
                b'\\' if mark == b'"' && !escaped => escaped = true,
                b if b == mark && !escaped => {
                    end = Some(i + 1);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end.unwrap_or(rest.len());
        out.push_str(&rest[at..end]);
        rest = &rest[end..];
    }
    out.push_str(&plain(rest));
    out
}

/// A whole number too large (or small) for its field, in the
/// deserialiser's words: an integer beyond the field's type (`invalid value:
/// integer `N`, expected i64`: said only of a number out of range), or one
/// beyond any integer, which JSON's parser reads as a float (`invalid type:
/// floating point `1e+30`, expected u32`). Said as "the number N is too
/// large" (or small). A float within the type's range (`4.0`, `1.5`) is
/// left as it is: "expected a whole number" is the right word for it.
fn out_of_range(message: &str) -> String {
    const WHOLE: [(&str, f64, f64); 10] = [
        ("u8", 0.0, u8::MAX as f64),
        ("u16", 0.0, u16::MAX as f64),
        ("u32", 0.0, u32::MAX as f64),
        ("u64", 0.0, u64::MAX as f64),
        ("usize", 0.0, usize::MAX as f64),
        ("i8", i8::MIN as f64, i8::MAX as f64),
        ("i16", i16::MIN as f64, i16::MAX as f64),
        ("i32", i32::MIN as f64, i32::MAX as f64),
        ("i64", i64::MIN as f64, i64::MAX as f64),
        ("isize", isize::MIN as f64, isize::MAX as f64),
    ];
    for (prefix, integer) in [("invalid value: integer `", true), ("invalid type: floating point `", false)] {
        let Some(at) = message.find(prefix) else { continue };
        let rest = &message[at + prefix.len()..];
        let Some((number, tail)) = rest.split_once("`, expected ") else { continue };
        let word_len = tail.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(tail.len());
        let Some(&(_, min, max)) = WHOLE.iter().find(|(name, ..)| *name == &tail[..word_len]) else { continue };
        let Ok(value) = number.parse::<f64>() else { continue };
        let size = if integer {
            if value < 0.0 { "small" } else { "large" }
        } else if value.fract() != 0.0 || (min..=max).contains(&value) {
            continue;
        } else if value < min {
            "small"
        } else {
            "large"
        };
        return format!("{}the number {number} is too {size}{}", &message[..at], &tail[word_len..]);
    }
    message.to_owned()
}

pub(crate) fn body_rejection(status: StatusCode) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The body is larger than this endpoint accepts.")
    } else {
        AppError::new(StatusCode::BAD_REQUEST, "unreadable_body", "The body could not be read.")
    }
}

/// A path parameter (an id); a malformed one is a 400, never a 500.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| ApiPath(p.0)).map_err(
            |_: PathRejection| {
                // Every id in an address is a UUID; serde's words for why
                // this one is not would speak of Rust, not of the API.
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_id",
                    "The address holds an invalid id: ids are UUIDs, such as 0f8fad5b-d9cb-469f-a165-70867728950e.",
                )
            },
        )
    }
}

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(fault) = parts.uri.query().and_then(query_fault) {
            // A NUL reaching PostgreSQL is its error, not the caller's answer;
            // a value decoded with replacement characters is not what was meant.
            return Err(AppError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("The query string is invalid: {fault}."),
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| ApiQuery(q.0)).map_err(
            |e: QueryRejection| {
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("The query string is invalid: {}.", plain_words(&e.body_text())),
                )
            },
        )
    }
}

/// The query of a list that takes no parameters: any is refused, so that a
/// client asking for `?limit=10` is told, rather than given every row.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParameters {}

/// What is wrong with a query string as bytes, before its fields are read:
/// a `%` that starts no escape, a percent-encoded control character (`%00`–
/// `%1F`, `%7F`; unencoded ones never get this far, the HTTP parser refuses
/// them), or bytes that are not UTF-8 once decoded.
fn query_fault(query: &str) -> Option<&'static str> {
    let decoded = match percent_decoded(query) {
        Ok(decoded) => decoded,
        Err(fault) => return Some(fault),
    };
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Some("it holds a control character (such as %00)");
    }
    std::str::from_utf8(&decoded).is_err().then_some("once decoded, it is not UTF-8 text")
}

/// A query string's bytes with its escapes decoded, or why it cannot be.
fn percent_decoded(query: &str) -> Result<Vec<u8>, &'static str> {
    let (bytes, mut decoded, mut i) = (query.as_bytes(), Vec::with_capacity(query.len()), 0);
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) else {
                    return Err("a % there starts no escape (a percent sign itself is written %25)");
                };
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    Ok(decoded)
}

/// Whether a page's query string reads as text once decoded: UTF-8,
/// without NUL (which no search means and PostgreSQL cannot hold); line
/// breaks are text there (a form's prefill carries several lines). Bytes
/// that are not UTF-8 would otherwise be read as U+FFFD and searched for.
pub(crate) fn page_query_is_text(query: &str) -> bool {
    percent_decoded(query).is_ok_and(|decoded| !decoded.contains(&0) && std::str::from_utf8(&decoded).is_ok())
}

/// The caller, authenticated by `Authorization: Bearer <token>`. Its
/// `Debug` names the user and never shows the token.
#[derive(Clone)]
pub struct AuthUser {
    pub actor: Actor,
    pub user: UserView,
    pub token: String,
}

impl std::fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthUser").field("actor", &self.actor).finish_non_exhaustive()
    }
}

impl AuthUser {
    pub fn require(&self, allowed: &[Role]) -> Result<(), AppError> {
        if allowed.contains(&self.actor.role) {
            Ok(())
        } else {
            let people = |role: &Role| match role {
                Role::Sales => "salespeople",
                Role::Finance => "finance",
                Role::Admin => "admins",
            };
            let names: Vec<&str> = allowed.iter().map(people).collect();
            Err(AppError::forbidden_role(&names.join(" or ")))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    /// The caller, then no query string on a change (see [`QueryOnChange`]).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = AuthUser::authenticate(parts, state).await?;
        QueryOnChange::refuse(&parts.extensions, &parts.method)?;
        Ok(user)
    }
}

/// A request that changes something (any method but `GET` and `HEAD`) sent
/// with a query string, which no such API route takes: marked by the API's
/// middleware, and refused with 400 `invalid_query` by the caller's
/// extractor once it has authenticated the caller and checked their role, so
/// that whoever may not make the change at all is told that first (401,
/// 403), and nothing is read or written. A route nobody needs to log in for
/// (`POST /api/v1/auth/token`) is refused by its body's extractor.
#[derive(Clone, Copy)]
pub(crate) struct QueryOnChange;

impl QueryOnChange {
    pub(crate) fn refuse(extensions: &axum::http::Extensions, method: &axum::http::Method) -> Result<(), AppError> {
        match extensions.get::<QueryOnChange>() {
            Some(_) => Err(AppError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("A {method} request takes no query parameters here: nothing was changed."),
            )),
            None => Ok(()),
        }
    }
}

impl AuthUser {
    /// The caller of `Authorization: Bearer <token>`: 401 without one that
    /// is current.
    async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let sent = parts.headers.get_all(axum::http::header::AUTHORIZATION).iter().count();
        if sent > 1 {
            // Whichever one counted, the caller could not know who they were.
            return Err(AppError::new(
                StatusCode::BAD_REQUEST,
                "duplicate_header",
                format!("The request carries Authorization {sent} times; send it once."),
            ));
        }
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
            AppError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Log in first: send Authorization: Bearer <token> from POST /api/v1/auth/token.",
            )
        })?;
        let invalid = || {
            AppError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The token is unknown, expired or revoked; log in again.",
            )
        };
        let value = header.to_str().map_err(|_| invalid())?;
        // The scheme is case-insensitive (RFC 9110, 11.1).
        let scheme = value.split(' ').next().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Only bearer tokens are accepted: send Authorization: Bearer <token> from POST /api/v1/auth/token.",
            ));
        }
        let token = value
            .split_once(' ')
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or_else(invalid)?;
        let Some((actor, user)) = state.store.authenticate_token(token).await? else {
            if state.store.is_deactivated_accounts_token(token).await? {
                return Err(AppError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "The account this token belongs to is deactivated, and its tokens ended; if that is a \
                     mistake, ask an administrator to reactivate the account, then log in again.",
                ));
            }
            return Err(invalid());
        };
        crate::denied::Caller::note(parts, actor.id);
        Ok(AuthUser { actor, user, token: token.to_owned() })
    }
}

/// Declares an extractor that admits only the listed roles, so the role is
/// checked before the body is parsed.
macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident: $($role:ident),+) => {
        $(#[$doc])*
        pub struct $name(pub AuthUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let user = AuthUser::authenticate(parts, state).await?;
                user.require(&[$(Role::$role),+])?;
                QueryOnChange::refuse(&parts.extensions, &parts.method)?;
                Ok($name(user))
            }
        }
    };
}

role_guard!(
    /// Finance only.
    FinanceUser: Finance
);
role_guard!(
    /// Admins only.
    AdminUser: Admin
);
role_guard!(
    /// Salespeople only.
    SalesUser: Sales
);
role_guard!(
    /// Admins and finance.
    StaffUser: Admin, Finance
);
role_guard!(
    /// Anyone who works with quotes: salespeople and finance.
    QuoteUser: Sales, Finance
);

/// The client's address (see [`crate::TrustedProxies`]) and user agent, kept
/// with acknowledgements and counted by the login limit.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| state.trusted_proxies.client(c.0.ip(), &parts.headers).to_string());
        let user_agent =
            parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Client(ClientInfo { addr, user_agent }))
    }
}

#[cfg(test)]
mod tests {
    use super::{field_of, plain_words, query_fault};

    #[test]
    fn a_query_string_is_faulted_for_control_characters_stray_percent_signs_and_bytes_not_utf8() {
        for q in ["action=%00", "action=a%00b", "a=%1f", "a=%7F", "a=%0a"] {
            assert_eq!(query_fault(q), Some("it holds a control character (such as %00)"), "{q}");
        }
        for q in ["a=%", "a=%0", "a=%zz", "search=a%2", "%"] {
            assert!(query_fault(q).is_some_and(|f| f.contains("starts no escape")), "{q}");
        }
        for q in ["search=%ff", "a=%C3", "a=%C3%28"] {
            assert_eq!(query_fault(q), Some("once decoded, it is not UTF-8 text"), "{q}");
        }
        for q in ["action=quote.finalised", "a=%20b", "a=%C3%A9", "a=100%25", "search=%E6%9D%8E", "a=b+c", ""] {
            assert_eq!(query_fault(q), None, "{q}");
        }
    }

    #[test]
    fn a_shape_error_names_its_field_as_the_api_spells_it() {
        let cases = [
            (
                "lines[0].quantity: invalid type: string \"3\", expected a whole number at line 1 column 50",
                Some("lines[0].quantity"),
            ),
            ("missing field `password` at line 1 column 49", Some("password")),
            (".: missing field `password` at line 1 column 49", Some("password")),
            ("customer: missing field `email` at line 1 column 20", Some("customer.email")),
            ("the field \u{201c}password\u{201d} is missing", Some("password")),
            ("customer: the field \u{201c}email\u{201d} is missing", Some("customer.email")),
            ("unknown field `extra`, expected one of `customer`, `lines` at line 1 column 9", Some("extra")),
            ("extra: unknown field `extra`, expected one of `customer`, `lines` at line 1 column 9", Some("extra")),
            ("customer.tel: unknown field `tel`, expected `name` at line 1 column 9", Some("customer.tel")),
            ("email: invalid type: null, expected a string at line 1 column 13", Some("email")),
            ("invalid type: integer `1`, expected a JSON object at line 1 column 1", None),
            ("[0]: invalid type: integer `1`, expected a string at line 1 column 2", None),
        ];
        for (sentence, field) in cases {
            assert_eq!(field_of(sentence).as_deref(), field, "{sentence}");
        }
    }

    #[test]
    fn rust_type_names_become_what_a_client_sends() {
        assert_eq!(
            plain_words(
                "Failed to deserialize the JSON body into the target type: invalid type: sequence, expected struct TokenRequest at line 1 column 0"
            ),
            "invalid type: an array, expected a JSON object at line 1 column 0"
        );
        assert_eq!(
            plain_words("unit_price_minor: invalid type: floating point `1.5`, expected i64 at line 1 column 70"),
            "unit_price_minor: invalid type: the number `1.5`, expected a whole number at line 1 column 70"
        );
        assert_eq!(
            plain_words("lines: invalid type: map, expected a sequence at line 1 column 14"),
            "lines: invalid type: an object, expected an array at line 1 column 14"
        );
        // What the body said, quoted back, stays as it was sent.
        assert_eq!(
            plain_words("lines[0]: unknown field `expected a map`, expected one of `sku`, `quantity`"),
            "lines[0]: unknown field `expected a map`, expected one of `sku`, `quantity`"
        );
        assert_eq!(
            plain_words("lines[0].quantity: invalid type: string \"a \\\"map\\\" invalid type: map\", expected i64"),
            "lines[0].quantity: invalid type: string \"a \\\"map\\\" invalid type: map\", expected a whole number"
        );
        assert_eq!(
            plain_words("limit: expected u64, expected f64"),
            "limit: expected a whole number, expected a number"
        );
        assert_eq!(plain_words("expected enum Role"), "expected one of the allowed values");
        assert_eq!(
            plain_words(
                "Failed to deserialize the JSON body into the target type: missing field `sku` at line 1 column 2"
            ),
            "the field \u{201c}sku\u{201d} is missing"
        );
        assert_eq!(
            plain_words("customer: missing field `email` at line 1 column 20"),
            "customer: the field \u{201c}email\u{201d} is missing"
        );
        assert_eq!(
            plain_words("Failed to deserialize query string: limit: invalid digit found in string"),
            "limit: expected a whole number"
        );
        assert_eq!(plain_words("limit: number too large to fit in target type"), "limit: the number is too large");
        assert_eq!(
            plain_words("before: UUID parsing failed: invalid character: found `y` at 0"),
            "before: expected a UUID"
        );
        assert_eq!(
            plain_words("signer_id: UUID parsing failed: invalid length: expected 36, found 3 at line 1 column 18"),
            "signer_id: expected a UUID at line 1 column 18"
        );
        assert_eq!(plain_words("expected a string"), "expected a string");
        assert_eq!(
            plain_words("unit_price_minor: invalid type: floating point `1e30`, expected i64 at line 1 column 70"),
            "unit_price_minor: the number 1e30 is too large at line 1 column 70"
        );
        assert_eq!(
            plain_words("quantity: invalid value: integer `18446744073709551615`, expected i64 at line 1 column 9"),
            "quantity: the number 18446744073709551615 is too large at line 1 column 9"
        );
        assert_eq!(
            plain_words("quantity: invalid type: floating point `-1e20`, expected i64 at line 1 column 9"),
            "quantity: the number -1e20 is too small at line 1 column 9"
        );
        // A whole number written with a point is within range: it is the point that is wrong.
        for float in ["4.0", "-0.0", "1e2"] {
            assert_eq!(
                plain_words(&format!("quantity: invalid type: floating point `{float}`, expected i64")),
                format!("quantity: invalid type: the number `{float}`, expected a whole number")
            );
        }
        assert_eq!(plain_words("n: invalid value: integer `-1`, expected u32"), "n: the number -1 is too small");
        assert_eq!(
            plain_words("Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0"),
            "the body is empty"
        );
        assert_eq!(
            plain_words("Failed to parse the request body as JSON: key must be a string at line 1 column 2"),
            "key must be a string at line 1 column 2"
        );
        assert_eq!(
            plain_words("Failed to deserialize query string: limit: unknown field `limit`, there are no fields"),
            "limit is not a parameter here: this takes none"
        );
        assert_eq!(
            plain_words("unknown field `x`, expected one of `a`, `b`"),
            "unknown field `x`, expected one of `a`, `b`"
        );
    }
}
