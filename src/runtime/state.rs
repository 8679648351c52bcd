//! Live state of deployment records: each record joined with what the engine reports for its
//! container and with a health probe, and the containers this search head manages that no
//! record names (orphans, reported, never removed). Pure: the endpoint gathers the engine's
//! listing and the probes, and the rows are built here.

use super::plan::label;
use super::probe::Probe;
use crate::conffile::Stanza;
use crate::model::record::{content, running_id};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Full container id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// The engine's state word: running, exited, created, paused, restarting, removing, dead.
    pub state: String,
    /// Exit code of a stopped container, when known.
    pub exit_code: Option<i64>,
    /// Whether the kernel killed it for memory.
    pub oom_killed: bool,
    /// The model label.
    pub model: Option<String>,
    /// The manager-id label.
    pub manager_id: Option<String>,
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

/// One row of `container_data`: the stored keys, then `state`, `status` (Active only when
/// the probe passed now) and what explains them.
pub fn row(record: &Stanza, live: &Live, probe: Option<&Probe>) -> Map<String, Value> {
    let mut c = content(record);
    let (state, status, reason): (String, &str, String) = match live {
        Live::NoContainer => ("stopped".into(), "Stopped", String::new()),
        Live::Missing => (
            "missing".into(),
            "Missing",
            "the container recorded for this model no longer exists on the engine; start the \
             model again, or stop it to clear the record"
                .into(),
        ),
        Live::Unchecked(why) => ("unknown".into(), "Unknown", why.clone()),
        Live::Seen(o) if o.state == "running" => match probe {
            Some(p) if p.ok => ("running".into(), "Active", String::new()),
            Some(p) => (
                "running".into(),
                "Waiting for Url to start",
                p.detail.clone(),
            ),
            None => (
                "running".into(),
                "Waiting for Url to start",
                "not probed".into(),
            ),
        },
        Live::Seen(o) if o.oom_killed => (
            "oom_killed".into(),
            "Exited",
            "the container ran out of memory and was killed".into(),
        ),
        Live::Seen(o) if o.state == "exited" || o.state == "dead" => (
            o.state.clone(),
            "Exited",
            match o.exit_code {
                Some(code) => format!("the container exited with code {code}"),
                None => "the container is not running".into(),
            },
        ),
        Live::Seen(o) => (o.state.clone(), "Waiting for Url to start", String::new()),
    };
    if let Live::Seen(o) = live
        && let Some(code) = o.exit_code.filter(|_| o.state != "running")
    {
        c.insert("exit_code".into(), Value::from(code));
    }
    // The stored phase was true when the record was written; the live one replaces it.
    let phase = match (live, status) {
        (Live::Unchecked(_) | Live::NoContainer, _) => None,
        (_, "Active") => Some("ready"),
        (_, "Waiting for Url to start") => Some("starting"),
        _ => Some("failed"),
    };
    if let Some(phase) = phase {
        c.insert("phase".into(), Value::String(phase.into()));
        c.insert("phase_reason".into(), Value::String(reason.clone()));
    }
    c.insert("state".into(), Value::String(state));
    c.insert("status".into(), Value::String(status.into()));
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
        "state": o.state,
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
            (Some("exited"), Some("Exited"))
        );
        assert_eq!(r["exit_code"], 3);
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
        // A short id never matches by prefix, not even a 12-character one.
        assert!(matches!(find(&rec("aaaa"), &c), Live::Missing));
        assert!(matches!(find(&rec("aaaaaaaaaaaa"), &c), Live::Missing));
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
