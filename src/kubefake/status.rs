//! Answers as the API server gives them: a JSON body with a status code, and every error a
//! `Status` object (`kind: Status`, `status: Failure`, a `reason` and the `code`), which is
//! what kube, client-go and the Python client turn into their API errors.

use serde_json::{Value, json};

/// The media type of plain-text answers.
const TEXT: &str = "text/plain";

/// One answer: status code, JSON body and any extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub code: u16,
    /// The JSON body.
    pub body: Value,
    /// Headers besides `Content-Type` (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply {
            code: 200,
            body,
            headers: Vec::new(),
        }
    }

    /// 200 with plain text (a pod's log): the body is the string, sent as it is.
    pub fn text(text: String) -> Reply {
        Reply {
            headers: vec![("Content-Type", TEXT.to_string())],
            ..Reply::ok(Value::String(text))
        }
    }

    /// The text of a [`Reply::text`] answer.
    pub fn as_text(&self) -> Option<&str> {
        let plain = self
            .headers
            .iter()
            .any(|(n, v)| *n == "Content-Type" && v == TEXT);
        self.body.as_str().filter(|_| plain)
    }

    /// 201 with the created object.
    pub fn created(body: Value) -> Reply {
        Reply {
            code: 201,
            ..Reply::ok(body)
        }
    }
}

/// A `Status` failure with `reason`, `message` and optional `details`.
pub fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    Reply {
        code,
        body,
        headers: Vec::new(),
    }
}

/// A `Status` success, as a DELETE of some kinds answers.
pub fn success(details: Value) -> Reply {
    Reply::ok(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }))
}

/// 401: no credentials, or none that the server accepts.
pub fn unauthorized() -> Reply {
    failure(401, "Unauthorized", "Unauthorized", None)
}

/// 404 for an object that does not exist (`resource` is the plural, as the API names it).
pub fn not_found(resource: &str, name: &str) -> Reply {
    failure(
        404,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        Some(json!({"name": name, "kind": resource})),
    )
}

/// 404 for a path the server does not serve.
pub fn no_route() -> Reply {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// 409 when the name is taken.
pub fn already_exists(group: &str, resource: &str, name: &str) -> Reply {
    let qualified = qualified(group, resource);
    failure(
        409,
        "AlreadyExists",
        &format!("{qualified} \"{name}\" already exists"),
        Some(json!({"name": name, "group": group, "kind": resource})),
    )
}

/// 409 for a write that lost a race (or was told to).
pub fn conflict(message: &str) -> Reply {
    failure(409, "Conflict", message, None)
}

/// 400 for a request the server cannot read.
pub fn bad_request(message: &str) -> Reply {
    failure(400, "BadRequest", message, None)
}

/// 422 for an object that fails validation.
pub fn invalid(group: &str, resource: &str, name: &str, message: &str) -> Reply {
    let qualified = qualified(group, resource);
    failure(
        422,
        "Invalid",
        &format!("{qualified} \"{name}\" is invalid: {message}"),
        Some(json!({"name": name, "group": group, "kind": resource})),
    )
}

/// 405 for a verb the resource does not support.
pub fn method_not_allowed() -> Reply {
    failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

/// 429 with `Retry-After`, as priority and fairness answers when it sheds load.
pub fn too_many_requests(retry_after: u64) -> Reply {
    let mut reply = failure(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        Some(json!({"retryAfterSeconds": retry_after})),
    );
    reply.headers.push(("Retry-After", retry_after.to_string()));
    reply
}

/// 500 with `message`.
pub fn internal(message: &str) -> Reply {
    failure(
        500,
        "InternalError",
        &format!("Internal error occurred: {message}"),
        Some(json!({"causes": [{"message": message}]})),
    )
}

/// `resource.group`, or `resource` in the core group (how messages name a resource).
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_status_objects() {
        let r = not_found("namespaces", "x");
        assert_eq!(r.code, 404);
        assert_eq!(r.body["kind"], "Status");
        assert_eq!(r.body["status"], "Failure");
        assert_eq!(r.body["reason"], "NotFound");
        assert_eq!(r.body["code"], 404);
        assert_eq!(r.body["message"], "namespaces \"x\" not found");
        let t = too_many_requests(3);
        assert_eq!(t.headers, vec![("Retry-After", "3".to_string())]);
        assert_eq!(t.body["details"]["retryAfterSeconds"], 3);
        assert_eq!(
            already_exists("apps", "deployments", "d").body["message"],
            "deployments.apps \"d\" already exists"
        );
    }
}
