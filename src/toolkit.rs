//! Living beside the AI Toolkit (`Splunk_ML_Toolkit`). Its search-time commands (`| fit
//! AITKContainer`, `| apply`) find a model's container by reading that app's
//! `dsdl_container.conf` and `container_connections.conf` from its `local/` directory and the
//! container's token from its storage/passwords (realm `dltk_kubernetes`, user `api_token`).
//! So where the toolkit is installed, the stores live in its namespace (`nobody/<APP>`): writes
//! through splunkd land in its `local/`, and records and connections it saved before are read
//! as they are. Secrets stay in this handler's per-type realms, adopted once from the
//! toolkit's shared realm, and the API token is mirrored back to where the toolkit reads it.
//! [`crate::config::ToolkitMode`] chooses; this module holds the names and the pure decisions.

use crate::protocol::request::Secret;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The AI Toolkit's app id: its namespace when the stores live there.
pub const APP: &str = "Splunk_ML_Toolkit";

/// The toolkit's one realm for every container secret, Docker's and Kubernetes' alike.
pub const REALM: &str = "dltk_kubernetes";

/// The credential user the toolkit's search-time code reads the container token from.
pub const API_TOKEN: &str = "api_token";

/// The toolkit's fixed set of secret fields (all in [`REALM`]).
pub const SECRET_FIELDS: [&str; 8] = [
    "client_key",
    "user_token",
    "user_password",
    "aws_secret_access_key",
    "jupyter_passwd",
    "cluster_ca",
    "client_cert",
    "api_token",
];

/// The toolkit's secrets a connection of ours should take over: the `fields` it uses that are
/// stored in the toolkit's realm (`theirs`) and not yet in ours. Empty values are never
/// adopted; nothing is taken twice, since an adopted field is then ours.
pub fn adoptable(
    theirs: &[(String, Secret)],
    ours_has: impl Fn(&str) -> bool,
    fields: &[&str],
) -> Vec<(String, Secret)> {
    theirs
        .iter()
        .filter(|(field, value)| {
            fields.contains(&field.as_str())
                && SECRET_FIELDS.contains(&field.as_str())
                && !value.is_empty()
                && !ours_has(field)
        })
        .cloned()
        .collect()
}

/// How long one driver process trusts its answer to "is the toolkit installed?".
pub const DETECTION_TTL: Duration = Duration::from_secs(60);

/// A driver process's last answer to "is the toolkit installed and enabled?", so that only
/// one request a minute asks splunkd.
#[derive(Debug, Default)]
pub struct Detection(Mutex<Option<(Instant, bool)>>);

impl Detection {
    /// The cached answer, when younger than [`DETECTION_TTL`] at `now`.
    pub fn fresh(&self, now: Instant) -> Option<bool> {
        let seen = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.filter(|(at, _)| now.saturating_duration_since(*at) < DETECTION_TTL)
            .map(|(_, installed)| installed)
    }

    /// Remembers an answer found at `at`.
    pub fn remember(&self, at: Instant, installed: bool) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, installed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Secret {
        Secret::new(v)
    }

    #[test]
    fn only_missing_non_empty_toolkit_secrets_of_the_type_are_adopted() {
        let theirs = vec![
            ("jupyter_passwd".to_string(), s("jp")),
            ("api_token".to_string(), s("tok")),
            ("client_key".to_string(), s("k8s-key")),
            ("user_token".to_string(), s("")),
            ("not_a_secret".to_string(), s("x")),
        ];
        let docker = ["jupyter_passwd", "api_token", "not_a_secret"];
        let got = adoptable(&theirs, |f| f == "api_token", &docker);
        let names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["jupyter_passwd"], "api_token is ours already");
        assert_eq!(got[0].1.expose(), "jp");
        let k8s = ["client_key", "user_token", "api_token"];
        let got = adoptable(&theirs, |_| false, &k8s);
        let names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["api_token", "client_key"], "empty values never");
    }

    #[test]
    fn detection_is_remembered_for_a_minute() {
        let d = Detection::default();
        let t0 = Instant::now();
        assert_eq!(d.fresh(t0), None);
        d.remember(t0, true);
        assert_eq!(d.fresh(t0 + Duration::from_secs(59)), Some(true));
        assert_eq!(d.fresh(t0 + DETECTION_TTL), None);
        d.remember(t0 + DETECTION_TTL, false);
        assert_eq!(d.fresh(t0 + DETECTION_TTL), Some(false));
    }
}
