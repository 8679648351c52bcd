//! Live state of deployment records: each record joined with what the engine reports for its
//! container and with a health probe, and the containers this search head manages that no
//! record names (orphans, reported, never removed). Pure: the endpoint gathers the engine's
//! listing and the probes, and the rows are built here.

use super::label;
use super::probe::Probe;
use crate::conffile::Stanza;
use crate::model::record::{content, key, running_id};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Full container id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Where it is in its life.
    pub state: State,
    /// Exit code of a stopped container, when known.
    pub exit_code: Option<i64>,
    /// Whether the kernel killed it for memory.
    pub oom_killed: bool,
    /// The model name as given (the raw model label, in either label schema).
    pub model: Option<String>,
    /// The manager-id label.
    pub manager_id: Option<String>,
    /// Why the runtime says it will not become ready without a change (an image that cannot
    /// be pulled, a crash loop, no node for it), when it says so.
    pub failure: Option<String>,
}

/// A workload's state, in the words the replies use (Docker's, which the toolkit's UI and
/// scripts know); another runtime maps its own onto these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Made but never started: a start is under way, or one died half-way.
    Created,
    /// Running (serving or on its way to it).
    Running,
    /// Frozen by the runtime.
    Paused,
    /// Being restarted by the runtime.
    Restarting,
    /// Being removed.
    Removing,
    /// Ended; the exit code tells how.
    Exited,
    /// Ended and cannot be restarted.
    Dead,
    /// A word this version does not know, kept as the runtime said it.
    Other(String),
}

impl State {
    /// The reply's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Other(word) => word,
        }
    }

    /// Whether it is (or may soon be) serving: running, paused, restarting or created.
    pub fn is_alive(&self) -> bool {
        matches!(
            self,
            State::Running | State::Paused | State::Restarting | State::Created
        )
    }

    /// Whether it ended (exited or dead).
    pub fn has_ended(&self) -> bool {
        matches!(self, State::Exited | State::Dead)
    }
}

impl From<&str> for State {
    fn from(word: &str) -> State {
        match word {
            "created" => State::Created,
            "running" => State::Running,
            "paused" => State::Paused,
            "restarting" => State::Restarting,
            "removing" => State::Removing,
            "exited" => State::Exited,
            "dead" => State::Dead,
            other => State::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about a record's container.
#[derive(Debug, Clone)]
pub enum Live<'a> {
    /// The record names no container.
    NoContainer,
    /// The record names a container the engine does not have.
    Missing,
    /// The engine's view.
    Seen(&'a Observed),
    /// Not checked; the text says why (engine unreachable, other runtime).
    Unchecked(String),
}

/// Finds the container a record names: by its full id only, so a short or edited id never
/// resolves to another container.
pub fn find<'a>(record: &Stanza, containers: &'a [Observed]) -> Live<'a> {
    let Some(id) = running_id(record) else {
        return Live::NoContainer;
    };
    containers
        .iter()
        .find(|c| c.id == id)
        .map_or(Live::Missing, Live::Seen)
}

/// Whether a container may be read, stopped or removed: it carries this handler's labels or
/// the AI Toolkit's (`mltk_container`). Everything else on the engine is someone else's.
pub fn is_dsdl(labels: &HashMap<String, String>) -> bool {
    labels.get(label::MANAGED_BY).map(String::as_str) == Some(label::MANAGER)
        || labels.contains_key(label::LEGACY_CONTAINER)
}

/// Why the container the engine returned for a record's `id` must not be touched, or `None`
/// when it may be. The engine resolves names and id prefixes, so the answer must be the very
/// container the record names (its full id) and a DSDL container ([`is_dsdl`]).
pub fn recorded_problem(
    recorded: &str,
    found_id: &str,
    labels: &HashMap<String, String>,
) -> Option<&'static str> {
    if found_id != recorded {
        Some(
            "is not a full container id (a name or an id prefix resolves to whatever container the engine picks)",
        )
    } else if !is_dsdl(labels) {
        Some(
            "names a container that neither dsdl-handler nor the AI Toolkit started (it has neither's labels)",
        )
    } else {
        None
    }
}

/// The toolkit UI's `status` words (kept with the records, which a build without runtimes
/// also reports).
pub use crate::model::record::{ACTIVE, INACTIVE, UNKNOWN, WAITING};

/// One row of `container_data`: the stored keys, then `status` in the AI Toolkit UI's
/// vocabulary (its views filter on `status` lower-cased: "active", or "inactive"/"unknown"),
/// and the richer truth beside it: `state` (the engine's word, or stopped/missing/unknown),
/// `phase` and `phase_reason`, `state_reason`, `exit_code` and `last_failure`.
pub fn row(record: &Stanza, live: &Live, probe: Option<&Probe>) -> Map<String, Value> {
    let mut c = content(record);
    // The live phase; `None` keeps the stored one, which was true when it was written.
    let (state, status, phase, reason): (String, &str, Option<&str>, String) = match live {
        Live::NoContainer => ("stopped".into(), INACTIVE, None, String::new()),
        Live::Missing => (
            "missing".into(),
            INACTIVE,
            Some("failed"),
            "the container recorded for this model no longer exists on the engine; start the \
             model again, or stop it to clear the record"
                .into(),
        ),
        Live::Unchecked(why) => ("unknown".into(), UNKNOWN, None, why.clone()),
        Live::Seen(o) if o.failure.is_some() => (
            o.state.to_string(),
            INACTIVE,
            Some("failed"),
            o.failure.clone().unwrap_or_default(),
        ),
        Live::Seen(o) if o.state == State::Running => match probe {
            Some(p) if p.ok => ("running".into(), ACTIVE, Some("ready"), String::new()),
            Some(p) => (
                "running".into(),
                WAITING,
                Some("starting"),
                p.detail.clone(),
            ),
            None => (
                "running".into(),
                WAITING,
                Some("starting"),
                "not probed".into(),
            ),
        },
        Live::Seen(o) if o.oom_killed => (
            "oom_killed".into(),
            INACTIVE,
            Some("failed"),
            "the container ran out of memory and was killed".into(),
        ),
        Live::Seen(o) if o.state.has_ended() => (
            o.state.to_string(),
            INACTIVE,
            Some("failed"),
            match o.exit_code {
                Some(code) => format!("the container exited with code {code}"),
                None => "the container is not running".into(),
            },
        ),
        // created, restarting, paused, removing: on its way up or down, not serving.
        Live::Seen(o) => (
            o.state.to_string(),
            WAITING,
            Some("starting"),
            String::new(),
        ),
    };
    let exit_code = match live {
        Live::Seen(o) if o.state != State::Running => o.exit_code,
        _ => None,
    };
    if let Some(code) = exit_code {
        c.insert("exit_code".into(), Value::from(code));
    }
    if let Some(phase) = phase {
        c.insert(key::PHASE.into(), Value::String(phase.into()));
        c.insert(key::PHASE_REASON.into(), Value::String(reason.clone()));
    }
    // The last failure, live or stored (a start that failed leaves phase=failed behind).
    if c.get(key::PHASE).and_then(Value::as_str) == Some("failed") {
        let why = c
            .get(key::PHASE_REASON)
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map_or_else(|| reason.clone(), str::to_string);
        let mut failure = Map::new();
        failure.insert("state".into(), Value::String(state.clone()));
        failure.insert("reason".into(), Value::String(why));
        if let Some(code) = exit_code {
            failure.insert("exit_code".into(), Value::from(code));
        }
        c.insert("last_failure".into(), Value::Object(failure));
    }
    c.insert("state".into(), Value::String(state));
    c.insert(key::STATUS.into(), Value::String(status.into()));
    if !reason.is_empty() {
        c.insert("state_reason".into(), Value::String(reason));
    }
    c
}

/// Containers of this manager that no record names.
pub fn orphans<'a>(records: &[Stanza], containers: &'a [Observed]) -> Vec<&'a Observed> {
    containers
        .iter()
        .filter(|c| {
            !records
                .iter()
                .any(|r| matches!(find(r, std::slice::from_ref(*c)), Live::Seen(_)))
        })
        .collect()
}

/// The reply form of an orphan.
pub fn orphan_json(o: &Observed) -> Value {
    json!({
        "id": o.id,
        "name": o.name,
        "model": o.model.clone().unwrap_or_default(),
        "state": o.state.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: &str, state: &str, code: Option<i64>, oom: bool) -> Observed {
        Observed {
            id: id.into(),
            name: format!("n-{id}"),
            state: state.into(),
            exit_code: code,
            oom_killed: oom,
            model: Some("m".into()),
            manager_id: Some("g".into()),
            failure: None,
        }
    }

    /// The AI Toolkit UI's filter of a `container_data` row: its table shows
    /// `status || (api_url ? 'Active' : 'Unknown')` and filters that word lower-cased, ACTIVE on
    /// "active", INACTIVE on "inactive" or "unknown". `Some(true)` is ACTIVE, `Some(false)`
    /// INACTIVE, `None` neither (a container still waiting for its URL, as with the toolkit).
    fn ui_filter(row: &Map<String, Value>) -> Option<bool> {
        let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
        let shown = match text("status") {
            "" if text("api_url").is_empty() => UNKNOWN,
            "" => ACTIVE,
            s => s,
        };
        match shown.to_ascii_lowercase().as_str() {
            "active" => Some(true),
            "inactive" | "unknown" => Some(false),
            _ => None,
        }
    }

    fn rec(id: &str) -> Stanza {
        Stanza::from_pairs("m", &[("id", id), ("status", "Active"), ("phase", "ready")])
    }

    #[test]
    fn active_only_when_the_probe_passes_now() {
        let c = [obs("abcdef0123456789", "running", None, false)];
        let live = find(&rec("abcdef0123456789"), &c);
        let ok = Probe {
            ok: true,
            detail: String::new(),
        };
        assert_eq!(row(&rec("x"), &live, Some(&ok))["status"], "Active");
        let bad = Probe {
            ok: false,
            detail: "refused".into(),
        };
        let r = row(&rec("x"), &live, Some(&bad));
        assert_eq!(r["status"], "Waiting for Url to start");
        assert_eq!(r["state_reason"], "refused");
    }

    #[test]
    fn a_failure_the_runtime_reports_is_failed_at_once_with_its_reason() {
        let mut crash = obs("abcdef0123456789", "restarting", Some(3), false);
        crash.failure = Some("CrashLoopBackOff: the container exited with code 3".into());
        let c = [crash];
        let live = find(&rec("abcdef0123456789"), &c);
        let ok = Probe {
            ok: true,
            detail: String::new(),
        };
        let r = row(&rec("x"), &live, Some(&ok));
        assert_eq!(r["status"], INACTIVE);
        assert_eq!(r["phase"], "failed");
        assert_eq!(r["exit_code"], 3);
        assert_eq!(
            r["last_failure"]["reason"],
            "CrashLoopBackOff: the container exited with code 3"
        );
        assert_eq!(ui_filter(&r), Some(false));
    }

    #[test]
    fn dead_missing_and_stopped_containers_are_named() {
        let c = [
            obs("aaaaaaaaaaaaaaaa", "exited", Some(3), false),
            obs("bbbbbbbbbbbbbbbb", "exited", Some(137), true),
        ];
        let r = row(
            &rec("aaaaaaaaaaaaaaaa"),
            &find(&rec("aaaaaaaaaaaaaaaa"), &c),
            None,
        );
        assert_eq!(
            (r["state"].as_str(), r["status"].as_str()),
            (Some("exited"), Some(INACTIVE))
        );
        assert_eq!(r["exit_code"], 3);
        assert_eq!(r["last_failure"]["exit_code"], 3);
        assert_eq!(r["last_failure"]["state"], "exited");
        assert!(
            r["last_failure"]["reason"]
                .as_str()
                .is_some_and(|t| t.contains("code 3"))
        );
        let r = row(&rec("x"), &find(&rec("bbbbbbbbbbbbbbbb"), &c), None);
        assert_eq!(r["state"], "oom_killed");
        let r = row(&rec("x"), &find(&rec("cccc"), &c), None);
        assert_eq!(r["state"], "missing");
        let r = row(&rec(""), &find(&rec(""), &c), None);
        assert_eq!(r["state"], "stopped");
        let r = row(&rec("x"), &Live::Unchecked("engine down".into()), None);
        assert_eq!(
            (r["state"].as_str(), r["phase"].as_str()),
            (Some("unknown"), Some("ready"))
        );
        assert_eq!(r["status"], UNKNOWN);
        assert!(r.get("last_failure").is_none());
        // A short id never matches by prefix, not even a 12-character one.
        assert!(matches!(find(&rec("aaaa"), &c), Live::Missing));
        assert!(matches!(find(&rec("aaaaaaaaaaaa"), &c), Live::Missing));
    }

    #[test]
    fn status_words_land_in_the_toolkit_ui_filters() {
        let c = [
            obs("aaaaaaaaaaaaaaaa", "running", None, false),
            obs("bbbbbbbbbbbbbbbb", "exited", Some(0), false),
            obs("cccccccccccccccc", "exited", Some(137), true),
            obs("dddddddddddddddd", "dead", None, false),
        ];
        let ok = Probe {
            ok: true,
            detail: String::new(),
        };
        let bad = Probe {
            ok: false,
            detail: "refused".into(),
        };
        let filter = |id: &str, probe: Option<&Probe>| {
            let r = row(&rec(id), &find(&rec(id), &c), probe);
            (r["status"].as_str().map(str::to_string), ui_filter(&r))
        };
        let s = |w: &str| Some(w.to_string());
        assert_eq!(
            filter("aaaaaaaaaaaaaaaa", Some(&ok)),
            (s(ACTIVE), Some(true))
        );
        // Running but not answering: the toolkit's own word, in neither filter (as there).
        assert_eq!(filter("aaaaaaaaaaaaaaaa", Some(&bad)), (s(WAITING), None));
        for id in [
            "bbbbbbbbbbbbbbbb",
            "cccccccccccccccc",
            "dddddddddddddddd",
            "gone",
            "",
        ] {
            assert_eq!(filter(id, None), (s(INACTIVE), Some(false)), "{id:?}");
        }
        let r = row(&rec("x"), &Live::Unchecked("engine down".into()), None);
        assert_eq!(ui_filter(&r), Some(false));
        // A stopped dev record (keys emptied) reads inactive, with every toolkit key present.
        let dev = Stanza::from_pairs("__dev__", &[("id", ""), ("mode", "")]);
        let r = row(&dev, &find(&dev, &c), None);
        assert_eq!(
            (r["status"].as_str(), ui_filter(&r)),
            (Some(INACTIVE), Some(false))
        );
        assert_eq!(r["api_url"], "");
        assert!(r.get("last_failure").is_none());
        // A start that failed before a container existed keeps its stored reason.
        let failed = Stanza::from_pairs(
            "m",
            &[
                ("id", ""),
                ("phase", "failed"),
                ("phase_reason", "pull denied"),
            ],
        );
        let r = row(&failed, &find(&failed, &c), None);
        assert_eq!(r["last_failure"]["reason"], "pull denied");
        assert_eq!(r["last_failure"]["state"], "stopped");
    }

    #[test]
    fn only_the_recorded_dsdl_container_may_be_touched() {
        let full = "a".repeat(64);
        let ours = HashMap::from([(label::MANAGED_BY.to_string(), label::MANAGER.to_string())]);
        let toolkit = HashMap::from([(label::LEGACY_CONTAINER.to_string(), String::new())]);
        let foreign = HashMap::from([("com.example.app".to_string(), "db".to_string())]);
        assert_eq!(recorded_problem(&full, &full, &ours), None);
        assert_eq!(recorded_problem(&full, &full, &toolkit), None);
        assert!(recorded_problem(&full, &full, &foreign).is_some());
        assert!(recorded_problem(&full, &full, &HashMap::new()).is_some());
        // A prefix or a name resolved by the engine is never the recorded container.
        assert!(recorded_problem(&full[..12], &full, &ours).is_some());
        assert!(recorded_problem("mltk-m-1", &full, &ours).is_some());
        // Another manager's label value is not ours.
        let other = HashMap::from([(label::MANAGED_BY.to_string(), "helm".to_string())]);
        assert!(!is_dsdl(&other));
    }

    #[test]
    fn orphans_are_containers_no_record_names() {
        let c = [
            obs("aaaaaaaaaaaaaaaa", "running", None, false),
            obs("bbbbbbbbbbbbbbbb", "exited", Some(0), false),
        ];
        let o = orphans(&[rec("aaaaaaaaaaaaaaaa")], &c);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].id, "bbbbbbbbbbbbbbbb");
        assert_eq!(orphan_json(o[0])["state"], "exited");
    }
}
