//! The playground page at `/`: a static frontend of this API (source in
//! `web/`; its script bundled by `web/build.mjs` into `web/dist/`), embedded
//! here, so running execbox needs no Node.js. It is served with a policy that lets
//! it reach its own origin only; it holds no secret and runs code with the
//! visitor's own credentials.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use serde_json::{Map, Value};

use super::ApiState;

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
}

const INDEX: Asset = Asset { body: include_bytes!("../../web/index.html"), content_type: "text/html; charset=utf-8" };
const SCRIPT: Asset =
    Asset { body: include_bytes!("../../web/dist/playground.js"), content_type: "text/javascript; charset=utf-8" };
const STYLE: Asset =
    Asset { body: include_bytes!("../../web/playground.css"), content_type: "text/css; charset=utf-8" };
const LICENSES: Asset =
    Asset { body: include_bytes!("../../web/dist/licenses.txt"), content_type: "text/plain; charset=utf-8" };

/// Scripts and styles from this origin only (styles also inline: the editor
/// sets its own), requests to this origin only (its WebSockets included),
/// no framing, no forms elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; \
                      form-action 'self'; frame-ancestors 'none'";

/// The page's routes (not part of the API document: they serve no JSON).
pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/", get(|h: HeaderMap| async move { serve(&INDEX, &h) })),
        ("/assets/playground.js", get(|h: HeaderMap| async move { serve(&SCRIPT, &h) })),
        ("/assets/playground.css", get(|h: HeaderMap| async move { serve(&STYLE, &h) })),
        ("/assets/licenses.txt", get(|h: HeaderMap| async move { serve(&LICENSES, &h) })),
        ("/assets/templates.json", get(templates)),
    ]
}

/// Each runtime's hello world, by language: the editor's templates.
async fn templates(State(st): State<ApiState>, h: HeaderMap) -> Response {
    let map: Map<String, Value> =
        st.runtimes.all().iter().map(|rt| (rt.language.clone(), Value::String(rt.hello.clone()))).collect();
    let body = serde_json::to_vec(&map).expect("a map of strings serializes");
    respond(Bytes::from(body), "application/json", &h)
}

fn serve(asset: &Asset, h: &HeaderMap) -> Response {
    respond(Bytes::from_static(asset.body), asset.content_type, h)
}

/// The body with its validator: browsers revalidate (`no-cache`) and get a
/// 304 while the content is the same.
fn respond(body: Bytes, content_type: &'static str, h: &HeaderMap) -> Response {
    let etag = etag(&body);
    let fresh = h.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut resp = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let hs = resp.headers_mut();
    hs.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    hs.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a header value"));
    hs.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    hs.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The page may arrive with a token in its address; it must not travel on.
    hs.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_own_assets_only() {
        let page = std::str::from_utf8(INDEX.body).unwrap();
        for asset in ["/assets/playground.js", "/assets/playground.css"] {
            assert!(page.contains(&format!("\"{asset}\"")), "{asset}");
            assert!(routes().iter().any(|(p, _)| *p == asset), "{asset} is served");
        }
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"), "no other origin");
        for hook in ["language", "code", "stdin", "run", "cancel", "output", "status", "token"] {
            let wanted = format!("data-testid=\"{hook}\"");
            let script = std::str::from_utf8(SCRIPT.body).unwrap();
            assert!(page.contains(&wanted) || script.contains(&format!("\"data-testid\":\"{hook}\"")), "{hook}");
        }
    }

    #[tokio::test]
    async fn a_known_version_is_not_sent_again() {
        let fresh = respond(Bytes::from_static(b"body"), "text/plain", &HeaderMap::new());
        assert_eq!(fresh.status(), StatusCode::OK);
        let tag = fresh.headers()[header::ETAG].clone();
        assert!(fresh.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("connect-src 'self'"));
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        let again = respond(Bytes::from_static(b"body"), "text/plain", &h);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let body = axum::body::to_bytes(again.into_body(), 1024).await.unwrap();
        assert!(body.is_empty());
    }
}
