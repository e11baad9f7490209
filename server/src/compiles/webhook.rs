//! A Git host's webhook is accepted when it is signed with the environment's
//! `webhook_secret`: GitHub's `X-Hub-Signature-256: sha256=HEX` and Gitea's (and Forgejo's)
//! `X-Gitea-Signature: HEX` are an HMAC-SHA256 of the body; GitLab's `X-Gitlab-Token` is the
//! secret itself. Every comparison takes the same time whatever matches.

use axum::http::HeaderMap;
use cairn_wire::digest::{hex, hmac_sha256};

/// Whether the request carries any of the signatures this server reads.
pub fn is_signed(headers: &HeaderMap) -> bool {
    ["x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature", "x-gitlab-token"].iter().any(|h| headers.contains_key(*h))
}

/// Checks the request's signature against `secret`; `Err` says what was wrong (without
/// anything of the secret).
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let expected = hex(&hmac_sha256(secret.as_bytes(), body));
    if let Some(value) = header("x-hub-signature-256") {
        let given = value.strip_prefix("sha256=").ok_or("X-Hub-Signature-256 must be `sha256=HEX`")?;
        return equal(given.to_ascii_lowercase().as_bytes(), expected.as_bytes()).then_some(()).ok_or_else(|| "the X-Hub-Signature-256 signature does not match the body".to_string());
    }
    for name in ["x-gitea-signature", "x-forgejo-signature"] {
        if let Some(value) = header(name) {
            return equal(value.to_ascii_lowercase().as_bytes(), expected.as_bytes()).then_some(()).ok_or_else(|| format!("the {name} signature does not match the body"));
        }
    }
    if let Some(value) = header("x-gitlab-token") {
        return equal(value.as_bytes(), secret.as_bytes()).then_some(()).ok_or_else(|| "the X-Gitlab-Token is not the webhook secret".to_string());
    }
    Err("the request is not signed: send X-Hub-Signature-256 (GitHub), X-Gitea-Signature (Gitea) or X-Gitlab-Token (GitLab), or a bearer token".into())
}

/// Equality in a time that depends on the lengths only.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a push event's body says, when it is one: the ref pushed and the commit it is at.
pub fn pushed(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return (None, None) };
    let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str).map(|s| s.chars().take(256).collect::<String>());
    (text("ref"), text("after").or_else(|| text("checkout_sha")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header"));
        }
        map
    }

    #[test]
    fn github_gitea_and_gitlab_signatures_are_checked() {
        let body = br#"{"ref":"refs/heads/main","after":"abc"}"#;
        let signature = hex(&hmac_sha256(b"s3cret", body));
        assert!(verify(&headers(&[("x-hub-signature-256", &format!("sha256={signature}"))]), body, "s3cret").is_ok());
        assert!(verify(&headers(&[("x-gitea-signature", &signature)]), body, "s3cret").is_ok());
        assert!(verify(&headers(&[("x-gitlab-token", "s3cret")]), body, "s3cret").is_ok());
        assert!(verify(&headers(&[("x-hub-signature-256", &format!("sha256={signature}"))]), b"{}", "s3cret").is_err());
        assert!(verify(&headers(&[("x-hub-signature-256", &signature)]), body, "s3cret").is_err());
        assert!(verify(&headers(&[("x-gitea-signature", &signature)]), body, "other").is_err());
        assert!(verify(&headers(&[("x-gitlab-token", "s3cre")]), body, "s3cret").is_err());
        assert!(verify(&HeaderMap::new(), body, "s3cret").is_err());
        assert_eq!(pushed(body), (Some("refs/heads/main".into()), Some("abc".into())));
        assert_eq!(pushed(b"not json"), (None, None));
    }
}
