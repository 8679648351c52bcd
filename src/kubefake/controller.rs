//! The deployment controller, scheduler and kubelet in one: run before every request
//! ([`reconcile`]), it keeps one pod per replica of each Deployment, moves each pod's status
//! on with time, and sums them up in the Deployment's status. Pods are named
//! `<deployment>-<template hash>-<5 chars>`, carry the template's labels plus
//! `pod-template-hash`, and are owned straight by the Deployment (no ReplicaSet objects
//! exist here). A changed template replaces every pod at once (new hash); `replicas: 0`
//! leaves none.
//!
//! A pod is `Pending` (`ContainerCreating`) until [`Behaviour::pod_start_after`], then
//! `Running` and not ready, then ready at [`Behaviour::pod_ready_after`]. What goes wrong
//! is chosen by the image name (see [`Failure`]):
//!
//! | image contains   | pod                                                                 |
//! |------------------|---------------------------------------------------------------------|
//! | `pull-fails`     | `Pending`, waiting `ErrImagePull`, then `ImagePullBackOff`           |
//! | `crash`          | `Running`, waiting `CrashLoopBackOff`, `lastState.terminated.exitCode` 3, `restartCount` growing every [`Behaviour::restart_every`] |
//! | `progress-stalls`| `Running`, never ready; the Deployment's `Progressing` turns `False` (`ProgressDeadlineExceeded`) once it should have been ready |
//!
//! A container also does what the project's test container does with its environment
//! (see [`super::behaviour`]): `DSDL_TEST_EXIT_AFTER` / `DSDL_TEST_EXIT_CODE` make it exit
//! that long after each start, into the same `CrashLoopBackOff` as a `crash` image;
//! `DSDL_TEST_PORT` other than 5000 leaves it never ready (its readiness probe of the API on
//! 5000 fails).
//!
//! and a pod asking for more `nvidia.com/gpu` than any node has free stays `Pending` with
//! `PodScheduled=False` (`Unschedulable`), as the scheduler leaves it. Everything but
//! [`reconcile`] is pure, with the instant passed in.

use super::behaviour;
use super::cluster::{self, Behaviour, Cluster};
use super::resources::{self, ResourceType};
use super::store::{self, Store, type_key};
use crate::runtime::fake::Behaviour as TestBehaviour;
use jiff::Timestamp;
use serde_json::{Value, json};

/// A failure an image name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The image cannot be pulled.
    PullFails,
    /// The container exits with code 3 on every start.
    Crash,
    /// The container runs but never becomes ready.
    Stalls,
}

/// The exit code of a crashing container.
pub const CRASH_EXIT_CODE: i64 = 3;

/// The failure `image` asks for, if any.
pub fn failure_of(image: &str) -> Option<Failure> {
    if image.contains("pull-fails") {
        Some(Failure::PullFails)
    } else if image.contains("progress-stalls") {
        Some(Failure::Stalls)
    } else if image.contains("crash") {
        Some(Failure::Crash)
    } else {
        None
    }
}

/// 32-bit FNV-1a.
fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The pod template's hash, spelled as the controller spells it (digits mapped onto
/// `bcdfghjklmnpqrstvwxz2456789`).
pub fn template_hash(template: &Value) -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    fnv(template.to_string().as_bytes())
        .to_string()
        .bytes()
        .map(|b| SAFE[usize::from(b) % SAFE.len()] as char)
        .collect()
}

/// A new pod of `deploy` for the template with `hash`, named with `suffix`.
pub fn new_pod(deploy: &Value, hash: &str, suffix: &str) -> Value {
    let meta = &deploy["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    let template = &deploy["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels["pod-template-hash"] = json!(hash);
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-{hash}-{suffix}"),
            "generateName": format!("{name}-{hash}-"),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": meta["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": template["spec"],
    });
    if let Some(annotations) = template["metadata"]["annotations"].as_object() {
        pod["metadata"]["annotations"] = json!(annotations);
    }
    pod
}

/// `nvidia.com/gpu` a pod asks for (limits, else requests, summed over its containers).
pub fn gpus_requested(pod_spec: &Value) -> u64 {
    let quantity = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let r = &c["resources"];
            let limit = &r["limits"]["nvidia.com/gpu"];
            quantity(if limit.is_null() {
                &r["requests"]["nvidia.com/gpu"]
            } else {
                limit
            })
        })
        .sum()
}

/// The node a pod asking for `gpus` goes to, given each node's free GPUs (in order), or
/// the scheduler's message why none will do.
pub fn schedule(gpus: u64, free: &[(String, u64)]) -> Result<String, String> {
    let fits = free
        .iter()
        .filter(|(_, f)| gpus == 0 || *f >= gpus)
        // A GPU pod prefers the node with the fewest GPUs to spare; others the first node.
        .min_by_key(|(_, f)| if gpus == 0 { 0 } else { *f });
    match fits {
        Some((name, _)) => Ok(name.clone()),
        None => {
            let n = free.len();
            Err(format!(
                "0/{n} nodes are available: {n} Insufficient nvidia.com/gpu. preemption: 0/{n} \
                 nodes are available: {n} No preemption victims found for incoming pod."
            ))
        }
    }
}

/// A condition as pods and deployments carry them.
fn condition(kind: &str, ok: bool, at: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": at,
    });
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// A container instance's id (stable for a pod, container and attempt).
pub fn container_id(pod_uid: &str, container: &str, attempt: u64) -> String {
    let h = |salt: &str| fnv(format!("{pod_uid}/{container}/{attempt}/{salt}").as_bytes());
    format!(
        "containerd://{:08x}{:08x}{:08x}{:08x}",
        h("a"),
        h("b"),
        h("c"),
        h("d")
    )
}

/// How a container instance ends: it runs for `run`, then exits with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// How long each instance runs.
    pub run: std::time::Duration,
    /// Its exit code.
    pub code: i64,
}

/// How a crashing image's instances run: a fifth of the restart period.
fn crash_run(b: &Behaviour) -> std::time::Duration {
    (b.restart_every / 5).max(std::time::Duration::from_millis(1))
}

/// How the instances of a container running `image` with behaviour `t` end, if they do: a
/// `crash` image as [`Failure::Crash`] says, else after `DSDL_TEST_EXIT_AFTER`.
pub fn exit_of(image: &str, t: &TestBehaviour, b: &Behaviour) -> Option<Exit> {
    if failure_of(image) == Some(Failure::Crash) {
        return Some(Exit {
            run: crash_run(b),
            code: CRASH_EXIT_CODE,
        });
    }
    t.exits.map(|(run, code)| Exit { run, code })
}

/// From the start of one instance to the next: its run, then the kubelet's back-off (the
/// rest of the restart period).
fn period(exit: Exit, b: &Behaviour) -> i128 {
    let back_off = b.restart_every.saturating_sub(crash_run(b));
    cluster::nanos(exit.run + back_off).max(2)
}

/// When attempt `attempt` (0-based) of an exiting container started and ended.
pub fn crash_attempt(
    start: Timestamp,
    attempt: u64,
    exit: Exit,
    b: &Behaviour,
) -> (Timestamp, Timestamp) {
    let offset = period(exit, b).saturating_mul(i128::from(attempt));
    let began =
        Timestamp::from_nanosecond(start.as_nanosecond().saturating_add(offset)).unwrap_or(start);
    (began, cluster::after(began, exit.run))
}

/// How many attempts of an exiting container have ended `since_start` nanoseconds after its
/// first start.
fn crashes(since_start: i128, exit: Exit, b: &Behaviour) -> u64 {
    let run = cluster::nanos(exit.run);
    if since_start < run {
        0
    } else {
        u64::try_from((since_start - run) / period(exit, b)).unwrap_or(0) + 1
    }
}

/// One container's status at `now` for a pod that appeared at `born` and started at `start`.
fn container_status(
    c: &Value,
    t: &TestBehaviour,
    pod_uid: &str,
    pod_name: &str,
    start: Timestamp,
    now: Timestamp,
    b: &Behaviour,
) -> Value {
    let name = c["name"].as_str().unwrap_or_default();
    let image = c["image"].as_str().unwrap_or_default();
    let since_start = cluster::elapsed(start, now);
    let ready_at = cluster::nanos(b.pod_ready_after.saturating_sub(b.pod_start_after));
    let mut s = json!({
        "name": name, "image": image, "imageID": "", "ready": false, "started": false,
        "restartCount": 0, "lastState": {},
    });
    let every = cluster::nanos(b.restart_every).max(2);
    let exit = exit_of(image, t, b);
    let attempts = exit.map_or(0, |e| crashes(since_start, e, b));
    match (failure_of(image), exit) {
        (Some(Failure::PullFails), _) => {
            s["state"] = if since_start < every {
                json!({"waiting": {"reason": "ErrImagePull", "message": format!(
                    "failed to pull and unpack image \"{image}\": failed to resolve reference \
                     \"{image}\": not found")}})
            } else {
                json!({"waiting": {"reason": "ImagePullBackOff",
                                   "message": format!("Back-off pulling image \"{image}\"")}})
            };
        }
        (_, Some(exit)) if attempts > 0 => {
            let (began, ended) = crash_attempt(start, attempts - 1, exit, b);
            s["imageID"] = json!(format!("{image}@sha256:{:064x}", fnv(image.as_bytes())));
            s["restartCount"] = json!(attempts);
            s["lastState"] = json!({"terminated": {
                "exitCode": exit.code, "reason": if exit.code == 0 { "Completed" } else { "Error" },
                "startedAt": cluster::seconds(began), "finishedAt": cluster::seconds(ended),
                "containerID": container_id(pod_uid, name, attempts - 1),
            }});
            s["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off 10s restarting failed container={name} pod={pod_name}")}});
        }
        (failure, _) => {
            s["imageID"] = json!(format!("{image}@sha256:{:064x}", fnv(image.as_bytes())));
            s["started"] = json!(true);
            // The readiness probe asks the API on 5000, which answers only there.
            let answers = t.ready_after.is_some();
            s["ready"] = json!(failure.is_none() && answers && since_start >= ready_at);
            s["containerID"] = json!(container_id(pod_uid, name, 0));
            s["state"] = json!({"running": {"startedAt": cluster::seconds(start)}});
        }
    }
    s
}

/// A pod's `status` (and the node it runs on) at `now`, for a pod that appeared at `born`
/// and was bound to `node` (`Err`: the scheduler's reason it was not); `tests`: how each
/// container behaves (a missing one as by default).
pub fn pod_status(
    pod: &Value,
    tests: &[TestBehaviour],
    node: Result<&str, &str>,
    born: Timestamp,
    now: Timestamp,
    b: &Behaviour,
) -> Value {
    let at = cluster::seconds(born);
    if let Err(why) = node {
        return json!({
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [condition("PodScheduled", false, &at, Some("Unschedulable"), Some(why))],
        });
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let start = cluster::after(born, b.pod_start_after);
    let started = cluster::elapsed(start, now) >= 0;
    let statuses: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if started {
                let t = tests.get(i).cloned().unwrap_or_default();
                container_status(c, &t, uid, name, start, now, b)
            } else {
                json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                    "started": false, "restartCount": 0, "lastState": {},
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                })
            }
        })
        .collect();
    let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s["ready"] == true);
    let pulling = statuses.iter().any(|s| {
        matches!(
            s["state"]["waiting"]["reason"].as_str(),
            Some("ContainerCreating" | "ErrImagePull" | "ImagePullBackOff")
        )
    });
    let not_ready: Vec<&str> = statuses
        .iter()
        .filter(|s| s["ready"] != true)
        .filter_map(|s| s["name"].as_str())
        .collect();
    let why = format!("containers with unready status: [{}]", not_ready.join(" "));
    let (reason, message) = if all_ready {
        (None, None)
    } else {
        (Some("ContainersNotReady"), Some(why.as_str()))
    };
    let ip = format!("10.244.0.{}", 2 + fnv(name.as_bytes()) % 250);
    json!({
        "phase": if pulling { "Pending" } else { "Running" },
        "conditions": [
            condition("PodReadyToStartContainers", started, &at, None, None),
            condition("Initialized", true, &at, None, None),
            condition("Ready", all_ready, &at, reason, message),
            condition("ContainersReady", all_ready, &at, reason, message),
            condition("PodScheduled", true, &at, None, None),
        ],
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": at,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    })
}

/// A Deployment's `status` given its pods (`hash`: the current template's), at `now`;
/// `since`: when the current template's first pod appeared.
pub fn deployment_status(
    deploy: &Value,
    pods: &[Value],
    hash: &str,
    since: Option<Timestamp>,
    now: Timestamp,
    b: &Behaviour,
) -> Value {
    let desired = deploy["spec"]["replicas"].as_u64().unwrap_or(1);
    let name = deploy["metadata"]["name"].as_str().unwrap_or_default();
    let at = deploy["metadata"]["creationTimestamp"].clone();
    let ready = |p: &&Value| {
        p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let updated = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["pod-template-hash"] == hash)
        .count() as u64;
    let total = pods.len() as u64;
    let available = pods.iter().filter(ready).count() as u64;
    // maxUnavailable 25%, rounded down, as the default strategy has it.
    let min_available = desired - desired / 4;
    let stalls = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| failure_of(c["image"].as_str().unwrap_or_default()) == Some(Failure::Stalls));
    let overdue =
        since.is_some_and(|s| cluster::elapsed(s, now) >= cluster::nanos(b.pod_ready_after));
    let rs = format!("ReplicaSet \"{name}-{hash}\"");
    let progressing = if stalls && overdue && desired > 0 {
        json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": format!("{rs} has timed out progressing.")})
    } else if updated == desired && available == desired && total == desired {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
               "message": format!("{rs} has successfully progressed.")})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
               "message": format!("{rs} is progressing.")})
    };
    let availability = if available >= min_available {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
               "message": "Deployment has minimum availability."})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
               "message": "Deployment does not have minimum availability."})
    };
    let mut conditions = vec![availability, progressing];
    for c in &mut conditions {
        c["lastUpdateTime"] = at.clone();
        c["lastTransitionTime"] = at.clone();
    }
    let mut status = json!({
        "observedGeneration": deploy["metadata"]["generation"],
        "conditions": conditions,
    });
    // Zero counts are left out, as the API server's encoding does.
    for (field, n) in [
        ("replicas", total),
        ("updatedReplicas", updated),
        ("readyReplicas", available),
        ("availableReplicas", available),
        ("unavailableReplicas", desired.saturating_sub(available)),
    ] {
        if n > 0 {
            status[field] = json!(n);
        }
    }
    status
}

/// Each node's `nvidia.com/gpu` left after the pods bound to it.
fn free_gpus(nodes: &[Value], pods: &[Value]) -> Vec<(String, u64)> {
    nodes
        .iter()
        .map(|n| {
            let name = n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let total = n["status"]["allocatable"]["nvidia.com/gpu"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0u64);
            let used: u64 = pods
                .iter()
                .filter(|p| p["spec"]["nodeName"] == name.as_str())
                .map(|p| gpus_requested(&p["spec"]))
                .sum();
            (name, total.saturating_sub(used))
        })
        .collect()
}

fn core(plural: &str) -> Option<&'static ResourceType> {
    resources::find("", "v1", plural)
}

/// `metadata.<field>` of an object, or "".
fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// The pods among `pods` whose `ownerReferences` name `uid`.
fn owned_by<'a>(pods: &'a [Value], uid: &str) -> impl Iterator<Item = &'a Value> {
    let uid = uid.to_string();
    pods.iter().filter(move |p| {
        p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["uid"] == uid.as_str()))
    })
}

/// Whether `pod` was made from the template with `hash`.
fn of_template(pod: &Value, hash: &str) -> bool {
    pod["metadata"]["labels"]["pod-template-hash"] == hash
}

/// Brings every Deployment's pods, every pod's status and every Deployment's status up to
/// `now`.
pub fn reconcile(store: &mut Store, cluster: &mut Cluster, now: Timestamp) {
    let (Some(pod_rt), Some(node_rt), Some(deploy_rt)) = (
        core("pods"),
        core("nodes"),
        resources::find("apps", "v1", "deployments"),
    ) else {
        return;
    };
    // Each Deployment's pods, read once (reading them per Deployment made a request to a
    // cluster of 200 models take seconds).
    let mut by_owner: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for pod in store.objects(pod_rt, None) {
        let owners: Vec<String> = pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["uid"].as_str().map(str::to_string))
            .collect();
        for uid in owners {
            by_owner.entry(uid).or_default().push(pod.clone());
        }
    }
    for deploy in store.objects(deploy_rt, None) {
        let owned = by_owner.remove(meta(&deploy, "uid")).unwrap_or_default();
        scale(store, cluster, pod_rt, &deploy, &owned, now);
    }
    let pods = run_pods(store, cluster, pod_rt, node_rt, now);
    for mut deploy in store.objects(deploy_rt, None) {
        let ns = meta(&deploy, "namespace").to_string();
        let hash = template_hash(&deploy["spec"]["template"]);
        let owned: Vec<Value> = owned_by(&pods, meta(&deploy, "uid")).cloned().collect();
        let since = owned
            .iter()
            .filter(|p| of_template(p, &hash))
            .filter_map(|p| {
                let key = (type_key(pod_rt), ns.clone(), meta(p, "name").to_string());
                cluster.born.get(&key).copied()
            })
            .min();
        deploy["status"] =
            deployment_status(&deploy, &owned, &hash, since, now, &cluster.behaviour);
        store.replace_if_changed(deploy_rt, &ns, deploy);
    }
}

/// Leaves `deploy` (whose pods are `owned`) with one pod of its current template per
/// replica: pods of another template and extra ones go, missing ones are made.
fn scale(
    store: &mut Store,
    cluster: &mut Cluster,
    pod_rt: &ResourceType,
    deploy: &Value,
    owned: &[Value],
    now: Timestamp,
) {
    let ns = meta(deploy, "namespace").to_string();
    let hash = template_hash(&deploy["spec"]["template"]);
    let desired = usize::try_from(deploy["spec"]["replicas"].as_u64().unwrap_or(1)).unwrap_or(0);
    let (current, old): (Vec<&Value>, Vec<&Value>) =
        owned.iter().partition(|p| of_template(p, &hash));
    let gone = old.iter().chain(current.iter().skip(desired));
    for pod in gone {
        let key = (type_key(pod_rt), ns.clone(), meta(pod, "name").to_string());
        store.remove(&key);
        cluster.forget(&key);
    }
    for _ in current.len()..desired {
        let pod = new_pod(deploy, &hash, &store::name_suffix());
        if let Ok(created) = store.create(pod_rt, &ns, pod) {
            let key = (
                type_key(pod_rt),
                ns.clone(),
                meta(&created, "name").to_string(),
            );
            cluster.born.insert(key, now);
        }
    }
}

/// Binds each unbound pod to a node (or leaves it unschedulable) and moves every pod's status
/// on to `now`; the pods as stored after.
fn run_pods(
    store: &mut Store,
    cluster: &mut Cluster,
    pod_rt: &ResourceType,
    node_rt: &ResourceType,
    now: Timestamp,
) -> Vec<Value> {
    let nodes = store.objects(node_rt, None);
    let mut pods = store.objects(pod_rt, None);
    for i in 0..pods.len() {
        let ns = meta(&pods[i], "namespace").to_string();
        let name = meta(&pods[i], "name").to_string();
        let key = (type_key(pod_rt), ns.clone(), name.clone());
        let born = *cluster.born.entry(key).or_insert(now);
        let node = match pods[i]["spec"]["nodeName"].as_str() {
            Some(n) => Ok(n.to_string()),
            None => schedule(gpus_requested(&pods[i]["spec"]), &free_gpus(&nodes, &pods)),
        };
        let mut pod = pods[i].clone();
        if let Ok(n) = &node {
            pod["spec"]["nodeName"] = json!(n);
        }
        let node = node.as_deref().map_err(String::as_str);
        let tests = behaviour::of_pod(store, &pod);
        pod["status"] = pod_status(&pod, &tests, node, born, now, &cluster.behaviour);
        store.replace_if_changed(pod_rt, &ns, pod.clone());
        pods[i] = store.get(pod_rt, &ns, &name).unwrap_or(pod);
    }
    pods
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_780_000_000_000 + ms).unwrap()
    }

    fn pod(image: &str) -> Value {
        json!({"metadata": {"name": "m-abc-xyz12", "uid": "u1"},
               "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    fn behaviour() -> Behaviour {
        Behaviour {
            pod_start_after: Duration::from_millis(100),
            pod_ready_after: Duration::from_millis(300),
            restart_every: Duration::from_millis(500),
            ..Behaviour::default()
        }
    }

    fn state(image: &str, ms: i64) -> (Value, Value) {
        let s = pod_status(&pod(image), &[], Ok("node-1"), at(0), at(ms), &behaviour());
        (s["phase"].clone(), s["containerStatuses"][0].clone())
    }

    #[test]
    fn a_pod_starts_then_becomes_ready() {
        let (phase, c) = state("model:1", 50);
        assert_eq!(phase, "Pending");
        assert_eq!(c["state"]["waiting"]["reason"], "ContainerCreating");
        let (phase, c) = state("model:1", 150);
        assert_eq!(
            (phase.as_str(), c["ready"].as_bool()),
            (Some("Running"), Some(false))
        );
        assert!(c["state"]["running"]["startedAt"].is_string());
        let s = pod_status(
            &pod("model:1"),
            &[],
            Ok("node-1"),
            at(0),
            at(300),
            &behaviour(),
        );
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready");
        assert_eq!(ready.unwrap()["status"], "True");
    }

    #[test]
    fn images_choose_how_pods_fail() {
        let (phase, c) = state("x/pull-fails:1", 200);
        assert_eq!(
            (phase.as_str(), c["state"]["waiting"]["reason"].as_str()),
            (Some("Pending"), Some("ErrImagePull"))
        );
        let (_, c) = state("x/pull-fails:1", 700);
        assert_eq!(c["state"]["waiting"]["reason"], "ImagePullBackOff");
        let (phase, c) = state("x/crash:1", 200);
        assert_eq!(phase, "Running");
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 3);
        assert_eq!(c["restartCount"], 1);
        let (_, c) = state("x/crash:1", 1200);
        assert_eq!(c["restartCount"], 3);
        let (phase, c) = state("x/progress-stalls:1", 5000);
        assert_eq!(
            (phase.as_str(), c["ready"].as_bool()),
            (Some("Running"), Some(false))
        );
    }

    #[test]
    fn the_test_containers_environment_chooses_exits_and_readiness() {
        let exits = TestBehaviour {
            exits: Some((Duration::from_secs(1), 7)),
            ..TestBehaviour::default()
        };
        let status = |t: &TestBehaviour, ms| {
            let s = pod_status(
                &pod("model:1"),
                std::slice::from_ref(t),
                Ok("node-1"),
                at(0),
                at(ms),
                &behaviour(),
            );
            s["containerStatuses"][0].clone()
        };
        // Ready and running until it exits a second after starting (at 100 ms).
        let c = status(&exits, 1000);
        assert_eq!(
            (c["ready"].as_bool(), c["restartCount"].as_u64()),
            (Some(true), Some(0))
        );
        let c = status(&exits, 1100);
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 7);
        assert_eq!(c["restartCount"], 1);
        // Each attempt runs its second, then backs off for the rest of the restart period.
        assert_eq!(status(&exits, 1100 + 1400)["restartCount"], 2);
        assert_eq!(status(&exits, 1100 + 1399)["restartCount"], 1);
        let elsewhere = TestBehaviour {
            ready_after: None,
            ..TestBehaviour::default()
        };
        let c = status(&elsewhere, 5000);
        assert_eq!(
            (c["ready"].as_bool(), c["started"].as_bool()),
            (Some(false), Some(true))
        );
        assert_eq!(status(&TestBehaviour::default(), 5000)["ready"], true);
    }

    #[test]
    fn gpus_beyond_any_node_leave_the_pod_unschedulable() {
        let spec = json!({"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"nvidia.com/gpu": "4"}}}]});
        assert_eq!(gpus_requested(&spec), 4);
        let free = [("cpu-1".to_string(), 0), ("gpu-1".to_string(), 2)];
        let why = schedule(4, &free).unwrap_err();
        assert!(
            why.starts_with("0/2 nodes are available: 2 Insufficient nvidia.com/gpu."),
            "{why}"
        );
        assert_eq!(schedule(2, &free).unwrap(), "gpu-1");
        assert_eq!(schedule(0, &free).unwrap(), "cpu-1");
        let s = pod_status(&pod("i"), &[], Err(&why), at(0), at(1000), &behaviour());
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["conditions"][0]["reason"], "Unschedulable");
        assert_eq!(s["conditions"][0]["status"], "False");
    }

    #[test]
    fn deployment_status_sums_its_pods() {
        let deploy = json!({"metadata": {"name": "m", "generation": 2, "creationTimestamp": "t"},
                            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "model"}]}}}});
        let hash = template_hash(&deploy["spec"]["template"]);
        let with = |ready: bool| {
            json!({"metadata": {"labels": {"pod-template-hash": hash}},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
        };
        let b = behaviour();
        let s = deployment_status(
            &deploy,
            &[with(true), with(false)],
            &hash,
            Some(at(0)),
            at(150),
            &b,
        );
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(
            (
                s["replicas"].as_u64(),
                s["updatedReplicas"].as_u64(),
                s["readyReplicas"].as_u64()
            ),
            (Some(2), Some(2), Some(1))
        );
        assert_eq!(
            s["conditions"][0]["status"], "False",
            "Available needs both"
        );
        assert_eq!(s["conditions"][1]["reason"], "ReplicaSetUpdated");
        let s = deployment_status(
            &deploy,
            &[with(true), with(true)],
            &hash,
            Some(at(0)),
            at(400),
            &b,
        );
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["conditions"][1]["reason"], "NewReplicaSetAvailable");
        let mut stalls = deploy.clone();
        stalls["spec"]["template"]["spec"]["containers"][0]["image"] = json!("progress-stalls");
        let s = deployment_status(
            &stalls,
            &[with(false), with(false)],
            &hash,
            Some(at(0)),
            at(400),
            &b,
        );
        assert_eq!(
            (
                s["conditions"][1]["status"].as_str(),
                s["conditions"][1]["reason"].as_str()
            ),
            (Some("False"), Some("ProgressDeadlineExceeded"))
        );
        assert!(s.get("readyReplicas").is_none(), "zero counts are left out");
    }

    #[test]
    fn the_template_names_the_pods() {
        let deploy = json!({"metadata": {"name": "m", "namespace": "dsdl", "uid": "u"},
            "spec": {"template": {"metadata": {"labels": {"app": "m"}}, "spec": {"containers": []}}}});
        let hash = template_hash(&deploy["spec"]["template"]);
        assert_eq!(hash.len(), template_hash(&deploy["spec"]["template"]).len());
        let mut other = deploy.clone();
        other["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        assert_ne!(hash, template_hash(&other["spec"]["template"]));
        let p = new_pod(&deploy, &hash, "abcde");
        assert_eq!(p["metadata"]["name"], format!("m-{hash}-abcde"));
        assert_eq!(
            p["metadata"]["labels"],
            json!({"app": "m", "pod-template-hash": hash})
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    }
}
