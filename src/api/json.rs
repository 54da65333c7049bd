//! A JSON body extractor whose every rejection is one of our JSON errors:
//! no JSON content type 415, unreadable JSON 400, wrong shape 422, too big 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub(crate) struct JsonBody<T>(pub T);

/// A query string parsed into `T`, or a 400 in the API's JSON shape.
pub(crate) fn query<T>(
    q: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|axum::extract::Query(p)| p).map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read as a JSON value first: serde would also build a struct from
        // an array of its fields' values, which no body here may be.
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) if !v.is_object() => {
                Err(ApiError::Unprocessable(format!("the body must be a JSON object, not {}", kind(&v))))
            }
            Ok(axum::Json(v)) => serde_path_to_error::deserialize(v).map(JsonBody).map_err(|e| {
                ApiError::Unprocessable(format!("Failed to deserialize the JSON body into the target type: {e}"))
            }),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::UnsupportedMediaType("send a JSON body with `Content-Type: application/json`".into()))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::BadRequest(format!("the body is not valid JSON: {}", e.body_text())))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Unprocessable(e.body_text())),
            Err(JsonRejection::BytesRejection(e)) => {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Err(ApiError::PayloadTooLarge("the request body is too large".into()))
                } else {
                    Err(ApiError::BadRequest(e.body_text()))
                }
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Structs inside a body read only from JSON objects (serde would also take
/// an array of their fields' values). For `#[serde(deserialize_with = ...)]`.
pub(crate) mod object {
    use serde::de::{DeserializeOwned, Deserializer, Error};
    use serde::Deserialize;
    use serde_json::{Map, Value};

    fn from<T: DeserializeOwned, E: Error>(m: Map<String, Value>) -> Result<T, E> {
        serde_json::from_value(Value::Object(m)).map_err(E::custom)
    }

    pub(crate) fn optional<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
        Option::<Map<String, Value>>::deserialize(d)?.map(from).transpose()
    }

    pub(crate) fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        Vec::<Map<String, Value>>::deserialize(d)?.into_iter().map(from).collect()
    }
}

/// Integers as JSON Schema counts them, `3` and `3.0` alike (serde's `i64`
/// refuses `3.0`, which a schema's `integer` allows). For
/// `#[serde(deserialize_with = ...)]`.
pub(crate) mod integer {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde_json::Number;

    fn whole<E: Error>(n: &Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
            _ => Err(E::custom(format!("expected a whole number within 64 bits, not {n}"))),
        }
    }

    pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        whole(&Number::deserialize(d)?)
    }

    pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Number>::deserialize(d)?.as_ref().map(whole).transpose()
    }

    #[cfg(test)]
    mod tests {
        use serde::Deserialize;

        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "super::required")]
            a: i64,
            #[serde(default, deserialize_with = "super::optional")]
            b: Option<i64>,
        }

        #[test]
        fn whole_numbers_in_either_spelling() {
            let t: T = serde_json::from_str(r#"{"a": 3.0, "b": -7}"#).unwrap();
            assert_eq!((t.a, t.b), (3, Some(-7)));
            let t: T = serde_json::from_str(r#"{"a": 3, "b": null}"#).unwrap();
            assert_eq!((t.a, t.b), (3, None));
            assert_eq!(serde_json::from_str::<T>(r#"{"a": 3}"#).unwrap().b, None);
            for bad in [r#"{"a": 3.5}"#, r#"{"a": "3"}"#, r#"{"a": 1e300}"#, r#"{"a": 1, "b": 0.1}"#] {
                assert!(serde_json::from_str::<T>(bad).is_err(), "{bad}");
            }
        }
    }
}
