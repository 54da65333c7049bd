//! Signing keys and tokens as Supabase Auth makes them (ES256 and RS256
//! key pairs with their public JWKs), for the tests that verify them.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A key pair and its public JWK.
pub fn es256_key(kid: &str) -> (EncodingKey, Value) {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core_compat());
    let der = secret.to_pkcs8_der().unwrap();
    let mut jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    (EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

pub fn rs256_key(kid: &str) -> (EncodingKey, Value) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand_core_compat(), 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                     "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be())});
    (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
}

fn rand_core_compat() -> rand_core::OsRng {
    rand_core::OsRng
}

pub fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}
