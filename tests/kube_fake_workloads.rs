//! The fake Kubernetes API server's workloads reached through kube-rs, as the Kubernetes
//! runtime will reach them: server-side apply of a Deployment, Service, Secret, Ingress, HPA
//! and PVC (a second manager's change is a conflict until forced), pods listed by label
//! moving to ready, their logs, the failures image names and GPU requests ask for, an
//! injected 500 on the PATCH of a Deployment only, OpenShift Routes only on OpenShift, and a
//! delete taking the pods and owned objects with it.

#[path = "common/kube.rs"]
#[allow(dead_code)]
mod kube_cluster;

use dsdl_handler::kubefake::faults::FaultKind;
use dsdl_handler::kubefake::{KubeFake, Options};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch,
    PatchParams,
};
use kube_cluster::{NS, client, object};
use serde_json::json;
use std::time::{Duration, Instant};

/// A Deployment of `replicas` pods of `image` labelled `app: name`, optionally asking GPUs.
fn deployment(name: &str, image: &str, replicas: i32, gpus: Option<&str>) -> Deployment {
    let mut container = json!({"name": "model", "image": image,
                               "ports": [{"containerPort": 5000}]});
    if let Some(g) = gpus {
        container["resources"] = json!({"limits": {"nvidia.com/gpu": g}});
    }
    object(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [container]}},
        },
    }))
}

/// Retries `check` until it gives a value, for up to 5 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pods labelled `app=name`.
async fn pods(api: &Api<Pod>, name: &str) -> Vec<Pod> {
    api.list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .expect("list pods")
        .items
}

fn code(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason, s.message),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn workloads_through_kube() {
    let fake = KubeFake::start(kube_cluster::options(1)).expect("start the fake");
    let c = client(&fake).await;
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let pod_api: Api<Pod> = Api::namespaced(c.clone(), NS);
    let apply = PatchParams::apply("dsdl-handler").force();

    // Server-side apply creates, then a second manager's replica count is a conflict.
    let d = deployments
        .patch(
            "m",
            &apply,
            &Patch::Apply(deployment("m", "model:1", 2, None)),
        )
        .await
        .expect("apply the deployment");
    let uid = d.metadata.uid.clone().expect("a uid");
    let managers: Vec<String> = d
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert_eq!(managers, ["dsdl-handler"]);
    let other = PatchParams::apply("someone-else");
    let err = deployments
        .patch(
            "m",
            &other,
            &Patch::Apply(deployment("m", "model:1", 3, None)),
        )
        .await
        .expect_err("a conflict");
    assert_eq!(
        code(err),
        (
            409,
            "Conflict".into(),
            "Apply failed with 1 conflict: conflict with \"dsdl-handler\": .spec.replicas".into()
        )
    );

    // Pods by label, moving to ready; the Deployment's status follows.
    let ready = eventually("two ready pods", || async {
        let d = deployments.get("m").await.ok()?;
        let s = d.status?;
        (s.ready_replicas == Some(2) && s.observed_generation == Some(1)).then_some(())
    });
    ready.await;
    let listed = pods(&pod_api, "m").await;
    assert_eq!(listed.len(), 2);
    let pod = listed[0].metadata.name.clone().expect("a name");
    assert!(pod.starts_with("m-"), "{pod}");
    let owner = &listed[0]
        .metadata
        .owner_references
        .as_ref()
        .expect("an owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Deployment", uid.as_str())
    );

    // Owned objects, applied as the runtime will.
    let owned = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "m", "uid": uid}]);
    let svc: Service = object(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "m", "ownerReferences": owned},
        "spec": {"type": "LoadBalancer", "selector": {"app": "m"}, "ports": [{"port": 5000}]}}));
    let svc = Api::<Service>::namespaced(c.clone(), NS)
        .patch("m", &apply, &Patch::Apply(svc))
        .await
        .expect("apply the service");
    let spec = svc.spec.expect("a spec");
    assert!(spec.cluster_ip.expect("a cluster IP").starts_with("10.96."));
    let node_port = spec.ports.expect("ports")[0]
        .node_port
        .expect("a node port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let services: Api<Service> = Api::namespaced(c.clone(), NS);
    let lb = eventually("the load balancer", || async {
        let s = services.get("m").await.ok()?;
        let ingress = s.status?.load_balancer?.ingress?;
        ingress.first()?.ip.clone()
    })
    .await;
    assert_eq!(lb, "127.0.0.1");
    let secret: Secret = object(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "m", "ownerReferences": owned},
        "stringData": {"api_token": "not-a-real-token"}}));
    let secret = Api::<Secret>::namespaced(c.clone(), NS)
        .patch("m", &apply, &Patch::Apply(secret))
        .await
        .expect("apply the secret");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert!(secret.data.expect("data").contains_key("api_token"));
    let ingress: Ingress = object(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "m", "ownerReferences": owned},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "m", "port": {"number": 5000}}}}]}}]}}),
    );
    Api::<Ingress>::namespaced(c.clone(), NS)
        .patch("m", &apply, &Patch::Apply(ingress))
        .await
        .expect("apply the ingress");
    let hpa: HorizontalPodAutoscaler = object(json!({"apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler", "metadata": {"name": "m", "ownerReferences": owned},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m"},
                 "minReplicas": 1, "maxReplicas": 3}}));
    Api::<HorizontalPodAutoscaler>::namespaced(c.clone(), NS)
        .patch("m", &apply, &Patch::Apply(hpa))
        .await
        .expect("apply the HPA");
    let pvc: PersistentVolumeClaim = object(json!({"apiVersion": "v1",
        "kind": "PersistentVolumeClaim", "metadata": {"name": "shared"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}}));
    Api::<PersistentVolumeClaim>::namespaced(c.clone(), NS)
        .patch("shared", &apply, &Patch::Apply(pvc))
        .await
        .expect("apply the claim");

    // Routes are not served by a plain cluster.
    let gvk = GroupVersionKind::gvk("route.openshift.io", "v1", "Route");
    let routes: Api<DynamicObject> =
        Api::namespaced_with(c.clone(), NS, &ApiResource::from_gvk(&gvk));
    let route: DynamicObject = object(json!({"apiVersion": "route.openshift.io/v1",
        "kind": "Route", "metadata": {"name": "m"}, "spec": {"to": {"kind": "Service", "name": "m"}}}));
    let err = routes
        .patch("m", &apply, &Patch::Apply(&route))
        .await
        .expect_err("no routes here");
    assert_eq!(code(err).0, 404);

    // Logs: the last lines, with the kubelet's timestamps, plus what the test appends.
    fake.append_log(NS, &pod, "a request served")
        .expect("append");
    let tail = LogParams {
        tail_lines: Some(2),
        timestamps: true,
        ..LogParams::default()
    };
    let log = pod_api.logs(&pod, &tail).await.expect("the log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[1].ends_with(" a request served"), "{log}");
    let stamp = lines[0].split(' ').next().unwrap_or_default();
    assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{log}");
    let previous = LogParams {
        previous: true,
        ..LogParams::default()
    };
    let err = pod_api
        .logs(&pod, &previous)
        .await
        .expect_err("no previous");
    assert_eq!(
        code(err).2,
        format!("previous terminated container \"model\" in pod \"{pod}\" not found")
    );

    // A crashing image: restarts, and its previous log ends with its exit.
    deployments
        .patch(
            "crashes",
            &apply,
            &Patch::Apply(deployment("crashes", "x/crash:1", 1, None)),
        )
        .await
        .expect("apply");
    let crashed = eventually("a restart", || async {
        let p = pods(&pod_api, "crashes").await.into_iter().next()?;
        let s = p.status?.container_statuses?.into_iter().next()?;
        let exit = s.last_state?.terminated?.exit_code;
        (s.restart_count >= 1).then_some((p.metadata.name?, exit))
    })
    .await;
    assert_eq!(crashed.1, 3);
    let log = pod_api
        .logs(&crashed.0, &previous)
        .await
        .expect("the previous log");
    assert!(log.ends_with("Exiting with code 3\n"), "{log}");

    // More GPUs than any node has: unschedulable, as the scheduler says.
    deployments
        .patch(
            "big",
            &apply,
            &Patch::Apply(deployment("big", "model:1", 1, Some("4"))),
        )
        .await
        .expect("apply");
    let why = eventually("an unschedulable pod", || async {
        let p = pods(&pod_api, "big").await.into_iter().next()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False").then_some((c.reason?, c.message?))
    })
    .await;
    assert_eq!(why.0, "Unschedulable");
    assert!(
        why.1
            .starts_with("0/2 nodes are available: 2 Insufficient nvidia.com/gpu."),
        "{}",
        why.1
    );

    // A 500 on the PATCH of deployments only: reads go on, the next PATCH succeeds.
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments");
    fake.inject_on(FaultKind::Internal, 1, "PATCH", &path);
    deployments.get("m").await.expect("a GET is not failed");
    let err = deployments
        .patch(
            "m",
            &apply,
            &Patch::Apply(deployment("m", "model:1", 2, None)),
        )
        .await
        .expect_err("the injected 500");
    assert_eq!(code(err).0, 500);
    deployments
        .patch(
            "m",
            &apply,
            &Patch::Apply(deployment("m", "model:1", 2, None)),
        )
        .await
        .expect("the next PATCH");

    // A delay on GETs of pods only: the list answers, late.
    fake.inject_on(
        FaultKind::Delay(Duration::from_millis(400)),
        1,
        "GET",
        &format!("/api/v1/namespaces/{NS}/pods"),
    );
    let asked = Instant::now();
    assert_eq!(pods(&pod_api, "m").await.len(), 2);
    assert!(
        asked.elapsed() >= Duration::from_millis(400),
        "{:?}",
        asked.elapsed()
    );

    // Deleting the Deployment takes its pods and everything it owns.
    deployments
        .delete("m", &DeleteParams::background())
        .await
        .expect("delete");
    assert!(pods(&pod_api, "m").await.is_empty());
    assert_eq!(code(services.get("m").await.expect_err("gone")).0, 404);
    let secrets: Api<Secret> = Api::namespaced(c.clone(), NS);
    assert_eq!(code(secrets.get("m").await.expect_err("gone")).0, 404);
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(c.clone(), NS);
    assert_eq!(code(hpas.get("m").await.expect_err("gone")).0, 404);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), NS);
    claims.get("shared").await.expect("not owned: stays");
}

#[tokio::test]
async fn routes_on_openshift() {
    let fake = KubeFake::start(Options {
        openshift: true,
        ..kube_cluster::options(0)
    })
    .expect("start the fake");
    let c = client(&fake).await;
    let gvk = GroupVersionKind::gvk("route.openshift.io", "v1", "Route");
    let routes: Api<DynamicObject> =
        Api::namespaced_with(c.clone(), NS, &ApiResource::from_gvk(&gvk));
    let route: DynamicObject = object(json!({"apiVersion": "route.openshift.io/v1",
        "kind": "Route", "metadata": {"name": "m"}, "spec": {"to": {"kind": "Service", "name": "m"}}}));
    let r = routes
        .patch(
            "m",
            &PatchParams::apply("dsdl-handler"),
            &Patch::Apply(&route),
        )
        .await
        .expect("a route");
    assert_eq!(r.data["spec"]["host"], format!("m-{NS}.apps.kube-fake"));
    assert_eq!(
        r.data["status"]["ingress"][0]["conditions"][0]["type"],
        "Admitted"
    );
}
