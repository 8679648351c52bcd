//! splunkd's two URL families: `/services/<rest>` (no namespace) and
//! `/servicesNS/<user>/<app>/<rest>` (a namespace, `-` meaning "any"). Everything after the
//! prefix is the `rest_path` handlers see.
//!
//! The path is made canonical before anything is matched against it, because restmap stanzas
//! (and their capability rules) are chosen by prefix: repeated slashes are collapsed, as the web
//! server in front of splunkd's handler matching does, so `/services/mltk//start_container` is
//! the `start_container` handler and not the weaker `/mltk` one; dot segments (`.`, `..`) are
//! refused outright rather than resolved. Percent-encoded dots, like an encoded `/`, are data
//! inside a segment (a name the handler validates), never path structure.

use std::fmt;

/// The namespace part of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// `/services/...`.
    Global,
    /// `/servicesNS/<user>/<app>/...`; a `-` part is `None`.
    Scoped {
        /// The user part, decoded.
        user: Option<String>,
        /// The app part, decoded.
        app: Option<String>,
    },
}

impl Namespace {
    /// The user part, when a concrete one was given.
    pub fn user(&self) -> Option<&str> {
        match self {
            Namespace::Scoped { user, .. } => user.as_deref(),
            Namespace::Global => None,
        }
    }

    /// The app part, when a concrete one was given.
    pub fn app(&self) -> Option<&str> {
        match self {
            Namespace::Scoped { app, .. } => app.as_deref(),
            Namespace::Global => None,
        }
    }
}

/// A request path split into namespace and REST path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPath {
    /// The namespace.
    pub ns: Namespace,
    /// The raw (still percent-encoded) path after the namespace prefix, e.g. `/mltk/x`; empty
    /// for `/services` itself.
    pub rest_path: String,
    /// The percent-decoded, non-empty segments of `rest_path`.
    pub segments: Vec<String>,
}

/// Why a path is not a REST path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not under `/services` or `/servicesNS` (a 404).
    NotRest,
    /// `/servicesNS` without both a user and an app (a 404).
    IncompleteNamespace,
    /// A segment is not UTF-8 once percent-decoded (a 400).
    BadEncoding(String),
    /// A `.` or `..` segment, literal or percent-encoded (a 400).
    DotSegment(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotRest => f.write_str(
                "Not found: REST endpoints live under /services and /servicesNS/<user>/<app>",
            ),
            PathError::IncompleteNamespace => {
                f.write_str("/servicesNS needs a user and an app: /servicesNS/<user>/<app>/...")
            }
            PathError::BadEncoding(seg) => {
                write!(
                    f,
                    "Path segment {seg:?} is not valid UTF-8 once percent-decoded"
                )
            }
            PathError::DotSegment(seg) => {
                write!(f, "Path segment {seg:?} is not allowed in a REST path")
            }
        }
    }
}

impl std::error::Error for PathError {}

fn decode(seg: &str) -> Result<String, PathError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| PathError::BadEncoding(seg.to_string()))
}

fn wildcard(part: String) -> Option<String> {
    (part != "-").then_some(part)
}

/// `path` with every run of `/` collapsed to one; a `.` or `..` segment is an error. Pure, so
/// the matching rules can be tested without a server.
pub fn canonical(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    let dot = out.split('/').find(|seg| *seg == "." || *seg == "..");
    match dot {
        Some(seg) => Err(PathError::DotSegment(seg.to_string())),
        None => Ok(out),
    }
}

/// Splits a URL path (without query) into namespace and REST path, after making it
/// [`canonical`].
pub fn parse(path: &str) -> Result<RestPath, PathError> {
    let path = canonical(path)?;
    let path = path.as_str();
    let (ns, rest) = if let Some(rest) = strip_segment(path, "/servicesNS") {
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let mut parts = rest.splitn(3, '/');
        let user = parts.next().filter(|s| !s.is_empty());
        let app = parts.next().filter(|s| !s.is_empty());
        let (Some(user), Some(app)) = (user, app) else {
            return Err(PathError::IncompleteNamespace);
        };
        let tail = parts.next().map(|t| format!("/{t}")).unwrap_or_default();
        (
            Namespace::Scoped {
                user: wildcard(decode(user)?),
                app: wildcard(decode(app)?),
            },
            tail,
        )
    } else if let Some(rest) = strip_segment(path, "/services") {
        (Namespace::Global, rest.to_string())
    } else {
        return Err(PathError::NotRest);
    };
    let segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RestPath {
        ns,
        rest_path: rest,
        segments,
    })
}

/// `path` without `prefix` when the prefix ends at a segment boundary.
fn strip_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_paths() {
        let p = parse("/services/mltk/container_data").unwrap();
        assert_eq!(p.ns, Namespace::Global);
        assert_eq!(p.rest_path, "/mltk/container_data");
        assert_eq!(p.segments, ["mltk", "container_data"]);
        assert_eq!(parse("/services").unwrap().rest_path, "");
        assert_eq!(parse("/services/").unwrap().rest_path, "/");
    }

    #[test]
    fn scoped_paths_and_wildcards() {
        let p = parse("/servicesNS/admin/dsdl_handler/mltk").unwrap();
        assert_eq!(p.ns.user(), Some("admin"));
        assert_eq!(p.ns.app(), Some("dsdl_handler"));
        assert_eq!(p.rest_path, "/mltk");
        let p = parse("/servicesNS/-/-/configs/conf-x/a%20b").unwrap();
        assert_eq!(
            p.ns,
            Namespace::Scoped {
                user: None,
                app: None
            }
        );
        assert_eq!(p.rest_path, "/configs/conf-x/a%20b");
        assert_eq!(p.segments, ["configs", "conf-x", "a b"]);
        let p = parse("/servicesNS/a%40b/app").unwrap();
        assert_eq!(p.ns.user(), Some("a@b"));
        assert_eq!(p.rest_path, "");
    }

    #[test]
    fn repeated_slashes_collapse_before_matching() {
        for (raw, ns, rest) in [
            (
                "/services/mltk//start_container",
                Namespace::Global,
                "/mltk/start_container",
            ),
            (
                "/services/mltk///start_container/",
                Namespace::Global,
                "/mltk/start_container/",
            ),
            ("//services//mltk", Namespace::Global, "/mltk"),
            (
                "/servicesNS/u/app/mltk//container_connection",
                Namespace::Scoped {
                    user: Some("u".into()),
                    app: Some("app".into()),
                },
                "/mltk/container_connection",
            ),
            (
                "/servicesNS//u///app//mltk//stop_container",
                Namespace::Scoped {
                    user: Some("u".into()),
                    app: Some("app".into()),
                },
                "/mltk/stop_container",
            ),
        ] {
            let p = parse(raw).unwrap();
            assert_eq!((&p.ns, p.rest_path.as_str()), (&ns, rest), "{raw}");
        }
        assert_eq!(canonical("/a//b///c").unwrap(), "/a/b/c");
        // An encoded slash is data, not a separator.
        assert_eq!(canonical("/a/%2F%2Fb").unwrap(), "/a/%2F%2Fb");
    }

    #[test]
    fn dot_segments_are_refused() {
        for raw in [
            "/services/mltk/./start_container",
            "/services/mltk/x/../start_container",
            "/services/mltk/..",
            "/servicesNS/../dsdl_handler/mltk",
            "/servicesNS/u/./mltk",
        ] {
            assert!(
                matches!(parse(raw), Err(PathError::DotSegment(_))),
                "{raw}: {:?}",
                parse(raw)
            );
        }
        // Encoded dots are data, as an encoded slash is; dots inside a segment too.
        let p = parse("/services/mltk/start_container/%2E%2E").unwrap();
        assert_eq!(p.rest_path, "/mltk/start_container/%2E%2E");
        assert_eq!(p.segments[2], "..");
        assert_eq!(
            parse("/services/mltk/container_connection/docker/a..b")
                .unwrap()
                .segments[3],
            "a..b"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse("/"), Err(PathError::NotRest));
        assert_eq!(parse("/servicesX/a"), Err(PathError::NotRest));
        assert_eq!(parse("/mltk"), Err(PathError::NotRest));
        assert_eq!(
            parse("/servicesNS/admin"),
            Err(PathError::IncompleteNamespace)
        );
        assert_eq!(parse("/servicesNS"), Err(PathError::IncompleteNamespace));
        assert!(matches!(
            parse("/services/x/%ff"),
            Err(PathError::BadEncoding(_))
        ));
    }
}
