//! The local dev token: an access token signed with the dev secret (HS256),
//! carrying the claims Supabase Auth puts in a user's token. (Tokens are
//! verified by `api::auth`; this module only signs.)

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Secret;

/// The claims of a user's access token, as Supabase Auth issues them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Claims {
    pub sub: String,
    pub role: String,
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

pub(crate) const DEV_ISSUER: &str = "execbox-dev";

/// A user's access token signed with the shared secret (HS256), valid for
/// `valid_for`.
pub(crate) fn sign_hs256(
    secret: &Secret,
    user: Uuid,
    email: Option<String>,
    valid_for: chrono::Duration,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now();
    let claims = Claims {
        sub: user.to_string(),
        role: "authenticated".into(),
        aud: "authenticated".into(),
        iss: DEV_ISSUER.into(),
        iat: now.timestamp(),
        exp: (now + valid_for).timestamp(),
        email,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes());
    Ok(jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_tokens_verify_with_the_same_secret_only() {
        let secret = Secret::new("s3cret-s3cret-s3cret-s3cret-s3cret");
        let user = Uuid::new_v4();
        let token = sign_hs256(&secret, user, None, chrono::Duration::hours(1)).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_audience(&["authenticated"]);
        let data = jsonwebtoken::decode::<Claims>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(secret.expose().as_bytes()),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims.sub, user.to_string());
        assert_eq!(data.claims.role, "authenticated");
        assert!(jsonwebtoken::decode::<Claims>(&token, &jsonwebtoken::DecodingKey::from_secret(b"other"), &v).is_err());
    }
}
