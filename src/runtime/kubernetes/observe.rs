//! What a model's Deployment and its pods say about it, in the runtime-neutral words of
//! [`Observed`]: a Deployment that exists runs (`running`, as a started Docker container
//! does; whether it serves is what the health probe with the token says, and a Service only
//! reaches ready pods); failed with the reason as soon as a pod shows it cannot get there
//! (image pull, crash loop with its last exit code, unschedulable with the scheduler's
//! message) or the rollout's progress deadline passes; `removing` while it is deleted,
//! `exited` when scaled to zero. Pure.

use crate::runtime::label;
use crate::runtime::state::{Observed, State};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, HashMap};

/// The AI Toolkit's labels on the Deployments it started (reference 6.3).
pub const TOOLKIT_CONTAINER: &str = "mltk-container";
/// Its model label (the cleaned model name).
pub const TOOLKIT_MODEL: &str = "mltk-model";

/// Waiting reasons that mean the image will not run without a change.
const IMAGE_FAILURES: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
];

/// Labels and annotations of an object, in one map as [`crate::runtime::Found`] holds them;
/// the toolkit's Kubernetes marker also counts as its Docker one, so the checks written for
/// both runtimes ([`crate::runtime::state::is_dsdl`]) know a toolkit Deployment.
pub fn labels_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = meta
        .annotations
        .iter()
        .chain(meta.labels.iter())
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if all.contains_key(TOOLKIT_CONTAINER) {
        all.entry(label::LEGACY_CONTAINER.into()).or_default();
    }
    if let Some(model) = all.get(TOOLKIT_MODEL).cloned() {
        all.entry(label::LEGACY_MODEL.into()).or_insert(model);
    }
    all
}

/// Whether the pod's labels carry every label of `selector`.
pub fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The Deployment's pod selector (`matchLabels`).
pub fn selector_of(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

/// The state of Deployment `d` with `pods` (those its selector picks).
pub fn observe(d: &Deployment, pods: &[&Pod]) -> Observed {
    let labels = labels_of(&d.metadata);
    let name = d.metadata.name.clone().unwrap_or_default();
    let mut o = Observed {
        id: name.clone(),
        name,
        state: State::Created,
        exit_code: None,
        oom_killed: false,
        model: labels
            .get(label::MODEL)
            .or_else(|| labels.get(label::LEGACY_MODEL))
            .cloned(),
        manager_id: labels.get(label::MANAGER_ID).cloned(),
        failure: None,
    };
    if d.metadata.deletion_timestamp.is_some() {
        o.state = State::Removing;
        return o;
    }
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if wanted == 0 {
        o.state = State::Exited;
        return o;
    }
    o.state = State::Running;
    // Does anything say it will not become ready without a change?
    for pod in pods {
        if let Some((state, failure, exit, oom)) = pod_failure(pod) {
            o.state = state;
            o.failure = Some(failure);
            o.exit_code = exit;
            o.oom_killed = oom;
            return o;
        }
    }
    o.failure = stalled(d);
    o
}

/// `Progressing=False` with `ProgressDeadlineExceeded`: the rollout gave up.
fn stalled(d: &Deployment) -> Option<String> {
    let conditions = d.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            format!(
                "ProgressDeadlineExceeded: {}",
                c.message
                    .as_deref()
                    .unwrap_or("the rollout made no progress in time")
            )
        })
}

/// Why a pod cannot become ready, if something says so: the state word, the reason, the
/// last exit code and whether memory ran out.
fn pod_failure(pod: &Pod) -> Option<(State, String, Option<i64>, bool)> {
    let status = pod.status.as_ref()?;
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    }) {
        let message = c.message.as_deref().unwrap_or("no node can run the pod");
        return Some((
            State::Created,
            format!("Unschedulable: {message}"),
            None,
            false,
        ));
    }
    for c in status.container_statuses.iter().flatten() {
        let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
        let reason = waiting
            .and_then(|w| w.reason.as_deref())
            .unwrap_or_default();
        let message = waiting
            .and_then(|w| w.message.as_deref())
            .unwrap_or_default();
        let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
        if IMAGE_FAILURES.contains(&reason) {
            let text = if message.is_empty() {
                format!("{reason}: the image {} cannot be pulled or run", c.image)
            } else {
                format!("{reason}: {message}")
            };
            return Some((State::Running, text, None, false));
        }
        if reason == "CrashLoopBackOff" {
            let code = last.map(|t| i64::from(t.exit_code));
            let oom = last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled");
            let text = match (code, oom) {
                (_, true) => format!(
                    "CrashLoopBackOff: the container ran out of memory and was killed ({} restarts)",
                    c.restart_count
                ),
                (Some(code), _) => format!(
                    "CrashLoopBackOff: the container exited with code {code} ({} restarts)",
                    c.restart_count
                ),
                (None, _) => format!("CrashLoopBackOff ({} restarts)", c.restart_count),
            };
            // Between restarts the container has exited: the word Docker uses for it.
            return Some((State::Exited, text, code, oom));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "mltk-m-1", "generation": generation,
                "labels": {label::MANAGER_ID: "g1", label::MODEL_KEY: "m"},
                "annotations": {label::MODEL: "M"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {label::MODEL_KEY: "m"}},
                "template": {"spec": {"containers": []}}},
            "status": status,
        }))
        .unwrap()
    }

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "mltk-m-1-abc", "labels": {label::MODEL_KEY: "m", "x": "y"}},
            "status": status,
        }))
        .unwrap()
    }

    fn waiting(reason: &str, message: &str) -> serde_json::Value {
        json!({"phase": "Pending", "containerStatuses": [{
            "name": "mltk-model", "image": "img:1", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]})
    }

    #[test]
    fn a_deployment_runs_until_deleted_or_scaled_to_zero() {
        let ready = json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                           "readyReplicas": 1, "availableReplicas": 1});
        let o = observe(&deployment(2, ready), &[]);
        assert_eq!((o.state, o.failure), (State::Running, None));
        assert_eq!(
            (o.model.as_deref(), o.manager_id.as_deref()),
            (Some("M"), Some("g1"))
        );
        // Not rolled out yet: running (the probe tells whether it serves), not failed.
        let rolling = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1});
        let o = observe(&deployment(2, rolling), &[]);
        assert_eq!((o.state, o.failure), (State::Running, None));
        let mut gone = deployment(1, json!({}));
        gone.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        assert_eq!(observe(&gone, &[]).state, State::Removing);
        let mut zero = deployment(1, json!({}));
        if let Some(spec) = zero.spec.as_mut() {
            spec.replicas = Some(0);
        }
        assert_eq!(observe(&zero, &[]).state, State::Exited);
    }

    #[test]
    fn each_failure_shows_with_its_reason() {
        let d = deployment(1, json!({"observedGeneration": 1, "replicas": 1}));
        let p = pod(waiting(
            "ImagePullBackOff",
            "Back-off pulling image \"img:1\"",
        ));
        let o = observe(&d, &[&p]);
        assert_eq!(
            o.failure.as_deref(),
            Some("ImagePullBackOff: Back-off pulling image \"img:1\"")
        );

        let crash = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mltk-model", "image": "img:1", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}));
        let o = observe(&d, &[&crash]);
        assert_eq!((o.state.clone(), o.exit_code), (State::Exited, Some(3)));
        assert_eq!(
            o.failure.as_deref(),
            Some("CrashLoopBackOff: the container exited with code 3 (4 restarts)")
        );

        let unschedulable = pod(json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}]}));
        let o = observe(&d, &[&unschedulable]);
        assert_eq!(
            o.failure.as_deref(),
            Some("Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")
        );

        let stalled = deployment(
            1,
            json!({"observedGeneration": 1, "replicas": 1, "conditions": [{
            "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"x\" has timed out progressing."}]}),
        );
        let o = observe(&stalled, &[]);
        assert!(
            o.failure
                .unwrap()
                .starts_with("ProgressDeadlineExceeded: ReplicaSet")
        );
        // A pod still creating is on its way, not failed.
        let creating = pod(waiting("ContainerCreating", ""));
        assert_eq!(observe(&d, &[&creating]).failure, None);
    }

    #[test]
    fn toolkit_deployments_count_as_dsdl_and_pods_are_picked_by_selector() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "m", "labels": {"mltk-container": "", "mltk-model": "m"}},
        }))
        .unwrap();
        let labels = labels_of(&d.metadata);
        assert!(crate::runtime::state::is_dsdl(&labels));
        assert_eq!(
            labels.get(label::LEGACY_MODEL).map(String::as_str),
            Some("m")
        );
        let sel = BTreeMap::from([(label::MODEL_KEY.to_string(), "m".to_string())]);
        assert!(selects(&sel, &pod(json!({}))));
        let other = BTreeMap::from([(label::MODEL_KEY.to_string(), "n".to_string())]);
        assert!(!selects(&other, &pod(json!({}))));
        assert!(
            !selects(&BTreeMap::new(), &pod(json!({}))),
            "an empty selector picks nothing"
        );
    }
}
