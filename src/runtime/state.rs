//! Live state of deployment records: each record joined with what the engine reports for its
//! container and with a health probe, and the containers this search head manages that no
//! record names (orphans, reported, never removed). Pure: the endpoint gathers the engine's
//! listing and the probes, and the rows are built here.

use super::probe::Probe;
use crate::conffile::Stanza;
use crate::model::record::{content, running_id};
use serde_json::{Map, Value, json};

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

/// Finds the container a record names: by id (full or a prefix of 12+ characters).
pub fn find<'a>(record: &Stanza, containers: &'a [Observed]) -> Live<'a> {
    let Some(id) = running_id(record) else {
        return Live::NoContainer;
    };
    containers
        .iter()
        .find(|c| c.id == id || (id.len() >= 12 && c.id.starts_with(id)))
        .map_or(Live::Missing, Live::Seen)
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
        let r = row(&rec("aaaaaaaaaaaa"), &find(&rec("aaaaaaaaaaaa"), &c), None);
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
        // A short id never matches by prefix.
        assert!(matches!(find(&rec("aaaa"), &c), Live::Missing));
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
