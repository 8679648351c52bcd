//! `GET .../pods/{name}/log`, as the API server and kubelet answer it: which container
//! instance is read (the kubelet's rules: the running one, else the last terminated one;
//! `previous` the last terminated one; a 400 naming why there is none), its lines, then
//! `sinceSeconds`/`sinceTime`, `tailLines` and `timestamps` (RFC 3339 with nanoseconds, as the
//! kubelet prefixes them). Lines come from a generator per instance (the test container's
//! `DSDL_TEST_LOG_LINES` numbered lines first, both streams merged as the kubelet merges them;
//! a few startup lines; a crashed instance's end with its exit code) plus what tests appended
//! to the current one.
//! Pure but for [`read`], which looks the pod up.

use super::behaviour;
use super::cluster::{self, Behaviour, Cluster};
use super::controller::{self, Failure};
use super::resources;
use super::status::{self, Reply};
use super::store::{Store, type_key};
use crate::runtime::fake::Behaviour as TestBehaviour;
use jiff::Timestamp;
use serde_json::Value;

/// A log line and when it was written.
pub type Line = (Timestamp, String);

/// The query of a log request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// `container`.
    pub container: Option<String>,
    /// `previous`.
    pub previous: bool,
    /// `tailLines`.
    pub tail: Option<usize>,
    /// From `sinceSeconds` or `sinceTime`.
    pub since: Option<Timestamp>,
    /// `timestamps`.
    pub timestamps: bool,
}

/// Reads the query; 400/422 as the server answers for values it refuses.
pub fn parse_query(query: &[(String, String)], now: Timestamp) -> Result<LogQuery, Reply> {
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let flag = |k: &str| get(k).is_some_and(|v| v == "true" || v == "1");
    let invalid = |m: &str| status::invalid("", "pods", "", m);
    let tail = match get("tailLines") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => {
                return Err(invalid(
                    "tailLines: Invalid value: must be greater than or equal to 0",
                ));
            }
            Err(_) => {
                return Err(status::bad_request(&format!(
                    "tailLines: invalid value {v:?}"
                )));
            }
        },
    };
    let since = match (get("sinceSeconds"), get("sinceTime")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        (Some(s), None) => match s.parse::<u64>() {
            Ok(n) if n > 0 => {
                let back = now.as_nanosecond() - i128::from(n) * 1_000_000_000;
                Some(Timestamp::from_nanosecond(back).unwrap_or(Timestamp::MIN))
            }
            _ => {
                return Err(invalid(
                    "sinceSeconds: Invalid value: must be greater than 0",
                ));
            }
        },
        (None, Some(t)) => match t.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                return Err(status::bad_request(&format!(
                    "sinceTime: invalid time {t:?}"
                )));
            }
        },
        (None, None) => None,
    };
    Ok(LogQuery {
        container: get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        previous: flag("previous"),
        tail,
        since,
        timestamps: flag("timestamps"),
    })
}

/// Which instance of a container a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The one running now.
    Running,
    /// The terminated attempt `n` (0-based).
    Terminated(u64),
}

/// The container a request names (its only one when none is named) and which of its
/// instances it reads, by the kubelet's rules; the 400 they give otherwise.
pub fn choose(
    pod: &Value,
    container: Option<&str>,
    previous: bool,
) -> Result<(String, Instance), Reply> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match (container, names.as_slice()) {
        (Some(c), _) if names.contains(&c) => c,
        (Some(c), _) => {
            return Err(status::bad_request(&format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        (None, [only]) => only,
        (None, _) => {
            return Err(status::bad_request(&format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(status::bad_request(&format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == container);
    let waiting = |reason: &str| {
        status::bad_request(&format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        ))
    };
    let Some(s) = status else {
        return Err(waiting("ContainerCreating"));
    };
    let last = s["restartCount"].as_u64().unwrap_or(0);
    let terminated = !s["lastState"]["terminated"].is_null();
    if previous {
        return if terminated {
            Ok((
                container.to_string(),
                Instance::Terminated(last.saturating_sub(1)),
            ))
        } else {
            Err(status::bad_request(&format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )))
        };
    }
    if !s["state"]["running"].is_null() {
        return Ok((container.to_string(), Instance::Running));
    }
    if terminated {
        return Ok((
            container.to_string(),
            Instance::Terminated(last.saturating_sub(1)),
        ));
    }
    Err(waiting(match s["state"]["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => "image can't be pulled",
        Some("ImagePullBackOff") => "trying and failing to pull image",
        Some(other) => other,
        None => "ContainerCreating",
    }))
}

/// The test container's numbered lines, word for word as the in-memory runtime writes them
/// (odd ones were stdout, even ones stderr), all written at `at`.
pub fn numbered(total: u64, at: Timestamp) -> Vec<Line> {
    (1..=total)
        .map(|i| {
            let stream = if i % 2 == 1 { "stdout" } else { "stderr" };
            (at, format!("line {i:06} of {total} {stream} línea ✓ 日本"))
        })
        .collect()
}

/// The lines an instance of a container running `image` (behaving as `t`) wrote by `now`,
/// for a pod that appeared at `born` (the port its first `containerPort`).
pub fn generated(
    image: &str,
    t: &TestBehaviour,
    port: u64,
    instance: Instance,
    born: Timestamp,
    now: Timestamp,
    b: &Behaviour,
) -> Vec<Line> {
    let start = cluster::after(born, b.pod_start_after);
    let ready = cluster::after(born, b.pod_ready_after.max(b.pod_start_after));
    let exit = controller::exit_of(image, t, b);
    let mut lines: Vec<Line> = match (instance, exit) {
        (Instance::Running, _) => {
            let mut l = numbered(t.log_lines, start);
            l.extend([
                (start, format!("Starting the model server from {image}")),
                (start, format!("Listening on 0.0.0.0:{port}")),
            ]);
            match controller::failure_of(image) {
                Some(Failure::Stalls) => l.push((ready, "Still loading the model...".to_string())),
                Some(Failure::Crash) => {}
                _ => l.push((ready, "Ready to serve".to_string())),
            }
            l
        }
        (Instance::Terminated(attempt), Some(exit)) => {
            let (began, ended) = controller::crash_attempt(start, attempt, exit, b);
            let mut l = numbered(t.log_lines, began);
            l.extend([
                (began, format!("Starting the model server from {image}")),
                (ended, "Error: the model failed to load".to_string()),
                (ended, format!("Exiting with code {}", exit.code)),
            ]);
            l
        }
        // An instance that never ends has no terminated attempt to read.
        (Instance::Terminated(_), None) => Vec::new(),
    };
    lines.retain(|(at, _)| cluster::elapsed(*at, now) >= 0);
    lines
}

/// The reply's text: lines at or after `since`, the last `tail` of them, each prefixed with
/// its time when `timestamps`.
pub fn render(lines: &[Line], q: &LogQuery) -> String {
    let kept: Vec<&Line> = lines
        .iter()
        .filter(|(at, _)| q.since.is_none_or(|s| *at >= s))
        .collect();
    let skip = q.tail.map_or(0, |t| kept.len().saturating_sub(t));
    kept[skip..]
        .iter()
        .map(|(at, text)| {
            if q.timestamps {
                format!("{at} {text}\n")
            } else {
                format!("{text}\n")
            }
        })
        .collect()
}

/// The log of pod `name` in `ns`, answered as text.
pub fn read(
    store: &Store,
    cluster: &Cluster,
    ns: &str,
    name: &str,
    query: &[(String, String)],
    now: Timestamp,
) -> Reply {
    let Some(pods) = resources::find("", "v1", "pods") else {
        return status::no_route();
    };
    let q = match parse_query(query, now) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let pod = match store.get(pods, ns, name) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (container, instance) = match choose(&pod, q.container.as_deref(), q.previous) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let spec = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str());
    let image = spec.and_then(|c| c["image"].as_str()).unwrap_or_default();
    let port = spec
        .and_then(|c| c["ports"][0]["containerPort"].as_u64())
        .unwrap_or(5000);
    let key = (type_key(pods), ns.to_string(), name.to_string());
    let born = cluster.born.get(&key).copied().unwrap_or(now);
    let t = spec
        .map(|c| TestBehaviour::from_env(&behaviour::env_of(store, ns, c)))
        .unwrap_or_default();
    let mut lines = generated(image, &t, port, instance, born, now, &cluster.behaviour);
    if !q.previous {
        let log_key = (ns.to_string(), name.to_string(), container);
        lines.extend(
            cluster
                .appended
                .get(&log_key)
                .into_iter()
                .flatten()
                .cloned(),
        );
        lines.sort_by_key(|(at, _)| *at);
    }
    Reply::text(render(&lines, &q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_780_000_000_000 + ms).unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Result<LogQuery, Reply> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse_query(&v, at(10_000))
    }

    #[test]
    fn tail_since_and_timestamps() {
        let lines: Vec<Line> = (0..5).map(|i| (at(i * 1000), format!("l{i}"))).collect();
        let all = LogQuery::default();
        assert_eq!(render(&lines, &all), "l0\nl1\nl2\nl3\nl4\n");
        assert_eq!(
            render(&lines, &q(&[("tailLines", "2")]).unwrap()),
            "l3\nl4\n"
        );
        assert_eq!(render(&lines, &q(&[("tailLines", "0")]).unwrap()), "");
        // sinceSeconds counts back from now (10 s after at(0)).
        assert_eq!(
            render(&lines, &q(&[("sinceSeconds", "7")]).unwrap()),
            "l3\nl4\n"
        );
        let since = format!("{}", at(2000));
        assert_eq!(
            render(
                &lines,
                &q(&[("sinceTime", &since), ("tailLines", "1")]).unwrap()
            ),
            "l4\n"
        );
        let stamped = render(&lines[..1], &q(&[("timestamps", "true")]).unwrap());
        assert_eq!(stamped, format!("{} l0\n", at(0)));
        let ns = render(
            &[(
                Timestamp::from_nanosecond(1_780_000_000_123_456_789).unwrap(),
                "x".into(),
            )],
            &q(&[("timestamps", "true")]).unwrap(),
        );
        assert_eq!(ns, "2026-05-28T20:26:40.123456789Z x\n");
        assert_eq!(q(&[("tailLines", "-1")]).unwrap_err().code, 422);
        assert_eq!(
            q(&[("sinceSeconds", "1"), ("sinceTime", &since)])
                .unwrap_err()
                .code,
            422
        );
    }

    #[test]
    fn the_kubelets_choice_of_instance() {
        let pod = |status: Value| {
            json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n",
            "containers": [{"name": "c"}]}, "status": {"containerStatuses": [status]}})
        };
        let running =
            pod(json!({"name": "c", "restartCount": 0, "lastState": {}, "state": {"running": {}}}));
        assert_eq!(
            choose(&running, None, false).unwrap(),
            ("c".into(), Instance::Running)
        );
        let none = choose(&running, None, true).unwrap_err();
        assert_eq!(
            (none.code, none.body["message"].as_str()),
            (
                400,
                Some("previous terminated container \"c\" in pod \"p\" not found")
            )
        );
        let crashing = pod(
            json!({"name": "c", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 3}}}),
        );
        assert_eq!(
            choose(&crashing, Some("c"), true).unwrap().1,
            Instance::Terminated(2)
        );
        assert_eq!(
            choose(&crashing, None, false).unwrap().1,
            Instance::Terminated(2)
        );
        let creating = pod(
            json!({"name": "c", "restartCount": 0, "lastState": {}, "state": {"waiting": {"reason": "ContainerCreating"}}}),
        );
        assert_eq!(
            choose(&creating, None, false).unwrap_err().body["message"],
            "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        assert_eq!(
            choose(&creating, Some("x"), false).unwrap_err().body["message"],
            "container x is not valid for pod p"
        );
        let unbound = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            choose(&unbound, None, false).unwrap_err().body["message"],
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert_eq!(
            choose(&unbound, Some("a"), false).unwrap_err().body["message"],
            "pod p does not have a host assigned"
        );
    }

    #[test]
    fn generated_lines_follow_the_instance() {
        let b = Behaviour::default();
        let text = |i, ms| {
            generated(
                "model:1",
                &TestBehaviour::default(),
                5000,
                i,
                at(0),
                at(ms),
                &b,
            )
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
        };
        assert!(text(Instance::Running, 50).is_empty());
        assert_eq!(
            text(Instance::Running, 150),
            [
                "Starting the model server from model:1",
                "Listening on 0.0.0.0:5000"
            ]
        );
        assert_eq!(text(Instance::Running, 300).len(), 3);
        assert!(
            text(Instance::Terminated(0), 5000).is_empty(),
            "it never ended"
        );
        let crashes = |t: &TestBehaviour| {
            generated(
                "x/crash:1",
                t,
                5000,
                Instance::Terminated(0),
                at(0),
                at(5000),
                &b,
            )
        };
        let crashed = crashes(&TestBehaviour::default());
        assert_eq!(crashed.last().unwrap().1, "Exiting with code 3");
    }

    #[test]
    fn the_test_containers_lines_come_first_then_its_exit() {
        let b = Behaviour::default();
        let t = TestBehaviour {
            log_lines: 4,
            exits: Some((std::time::Duration::from_secs(1), 7)),
            ..TestBehaviour::default()
        };
        let running = generated("model:1", &t, 5000, Instance::Running, at(0), at(500), &b);
        let texts: Vec<&str> = running.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            texts[..4],
            [
                "line 000001 of 4 stdout línea ✓ 日本",
                "line 000002 of 4 stderr línea ✓ 日本",
                "line 000003 of 4 stdout línea ✓ 日本",
                "line 000004 of 4 stderr línea ✓ 日本",
            ]
        );
        assert!(
            running[..4].iter().all(|(when, _)| *when == at(100)),
            "at the start"
        );
        let ended = generated(
            "model:1",
            &t,
            5000,
            Instance::Terminated(0),
            at(0),
            at(5000),
            &b,
        );
        assert_eq!(ended[0].1, texts[0]);
        let last = ended.last().unwrap();
        assert_eq!(last.1, "Exiting with code 7");
        assert_eq!(last.0, at(1100), "one second after the start");
    }
}
