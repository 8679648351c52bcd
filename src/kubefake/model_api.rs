//! What a pod's model API answers, as the DSDL image (and the project's test container)
//! answers it: `GET /` and `GET /summary` are the health check, behind the image's token rule
//! (the `Authorization` header must *contain* the `api_token`, so `Bearer <token>` passes too);
//! the 200 body is the `json.dumps` text of the summary, returned by FastAPI as a JSON string;
//! errors are FastAPI's `{"detail": ...}`. Pure.

use serde_json::{Value, json};

/// The health check's summary, spelled as Python's `json.dumps` spells it.
pub const SUMMARY: &str = r#"{"app": "Splunk App for Data Science and Deep Learning", "version": "5.2.4", "model": "", "token": "valid"}"#;

/// The image's token rule: the header's problem, if any.
fn authorize(header: Option<&[u8]>, token: &str) -> Result<(), &'static str> {
    let Some(header) = header else {
        return Err("No header with token");
    };
    if token.is_empty() {
        return Err("No token setup");
    }
    let needle = token.as_bytes();
    if header.windows(needle.len()).any(|w| w == needle) {
        Ok(())
    } else {
        Err("Invalid token")
    }
}

/// The status and JSON body for `method` on `path` with `authorization`, for a pod whose
/// `api_token` is `token`.
pub fn answer(
    method: &str,
    path: &str,
    authorization: Option<&[u8]>,
    token: &str,
) -> (u16, String) {
    let detail = |s: &str| json!({ "detail": s }).to_string();
    let allowed: &[&str] = match path {
        "/" => &["GET", "HEAD"],
        "/summary" => &["GET", "HEAD", "POST"],
        "/fit" | "/apply" => &["POST"],
        _ => return (404, detail("Not Found")),
    };
    if !allowed.contains(&method) {
        return (405, detail("Method Not Allowed"));
    }
    match authorize(authorization, token) {
        Ok(()) => (200, Value::String(SUMMARY.to_string()).to_string()),
        Err(why) => (401, detail(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_rule_and_the_summary() {
        let (code, body) = answer("GET", "/", Some(b"Bearer tok-1"), "tok-1");
        assert_eq!(code, 200);
        let inner: String = serde_json::from_str(&body).unwrap();
        assert_eq!(inner, SUMMARY);
        let summary: Value = serde_json::from_str(&inner).unwrap();
        assert_eq!(summary["token"], "valid");
        assert_eq!(summary["version"], "5.2.4");
        assert_eq!(answer("GET", "/summary", Some(b"tok-1"), "tok-1").0, 200);
        assert_eq!(
            answer("GET", "/", None, "tok-1"),
            (401, r#"{"detail":"No header with token"}"#.to_string())
        );
        assert_eq!(
            answer("GET", "/", Some(b"tok-2"), "tok-1"),
            (401, r#"{"detail":"Invalid token"}"#.to_string())
        );
        assert_eq!(
            answer("GET", "/", Some(b"x"), "").1,
            r#"{"detail":"No token setup"}"#
        );
        assert_eq!(answer("GET", "/other", Some(b"tok-1"), "tok-1").0, 404);
        assert_eq!(answer("DELETE", "/", Some(b"tok-1"), "tok-1").0, 405);
    }
}
