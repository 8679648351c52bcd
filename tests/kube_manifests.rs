//! Every object the Kubernetes runtime can apply (PROD and DEV, each service type, GPU, HPA,
//! Ingress, pull secret, shared volume) is validated by `kubernetes-validate` (PyPI, the
//! Kubernetes OpenAPI schemas) in strict mode against the API version the project pins
//! (k8s-openapi's v1_33), and deserialises into k8s-openapi's types. OpenShift Routes are not
//! in those schemas; they are checked by the unit tests of `manifest.rs`.

mod common;

use dsdl_handler::conffile::Stanza;
use dsdl_handler::model::record::Mode;
use dsdl_handler::runtime::Workload;
use dsdl_handler::runtime::kubernetes::manifest::{Design, Settings, owned_by};
use dsdl_handler::runtime::plan::{Env, labels, ports, spec_hash};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The API version validated against: the one k8s-openapi's feature pins.
const PINNED: &str = "1.33.0";

fn workload(model: &str, mode: Mode, gpu: bool) -> Workload {
    let mut env = Env::default();
    env.set("MODE_DEV_PROD", mode.as_str());
    env.set("api_token", "manifest-test-token");
    env.set("ENABLE_HTTPS", "false");
    if mode == Mode::Dev {
        env.set("JUPYTER_PASSWD", "sha512:00:11");
    }
    let image = "registry.example/mltk-container-golden-cpu:5.2.1";
    Workload {
        name: dsdl_handler::names::runtime_name(model),
        image: image.into(),
        env,
        labels: labels(
            model,
            "4ff4e4d1-0f0c-4b5c-9d7a-1c2b3d4e5f60",
            mode,
            &spec_hash(image, mode, gpu),
        ),
        ports: ports(mode, model),
        gpu,
        tuning: Default::default(),
    }
}

/// Every variant's objects, named by variant.
fn variants() -> Vec<(String, Vec<Value>)> {
    let connections: [(&str, &[(&str, &str)]); 5] = [
        ("node-port", &[]),
        (
            "load-balancer-hpa",
            &[
                ("service_type", "load_balancer"),
                ("hpa_enabled", "true"),
                ("max_replicas", "4"),
            ],
        ),
        (
            "ingress",
            &[
                ("service_type", "ingress"),
                ("ingress_host_pattern", "{name}-{port}.apps.example.com"),
                (
                    "ingress_annotations",
                    r#"{"nginx.ingress.kubernetes.io/proxy-body-size": "100m"}"#,
                ),
                ("image_pull_secrets", "regcred"),
                ("storage_class", "nfs-client"),
            ],
        ),
        (
            "route-in-cluster",
            &[("service_type", "route"), ("in_cluster_mode", "1")],
        ),
        (
            "https-custom-resources",
            &[
                ("container_enable_https", "true"),
                ("min_cpu", "1"),
                ("max_cpu", "2.5"),
                ("min_memory", "1Gi"),
                ("max_memory", "8G"),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (name, pairs) in connections {
        let settings = Settings::read(
            &Stanza::from_pairs("kubernetes", pairs),
            &BTreeMap::new(),
            "dsdl",
        )
        .expect("valid settings");
        for (mode, gpu) in [(Mode::Prod, false), (Mode::Dev, false), (Mode::Prod, true)] {
            let w = workload("Model_One", mode, gpu);
            let d = Design {
                workload: &w,
                settings: &settings,
            };
            let mut objects = vec![d.deployment()];
            objects.extend(
                d.dependents()
                    .into_iter()
                    .map(|o| owned_by(o, &w.name, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")),
            );
            out.push((format!("{name}-{}-gpu{gpu}", mode.as_str()), objects));
        }
    }
    out
}

/// Runs kubernetes-validate on `files`; its exit status and output.
fn validate(files: &[std::path::PathBuf]) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", PINNED])
        .args(files)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named"),
        "kubernetes-validate is missing: python3 -m pip install kubernetes-validate ({text})"
    );
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, obj: &Value) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(obj).unwrap()).unwrap();
    path
}

#[test]
fn every_manifest_is_valid_against_the_pinned_api_in_strict_mode() {
    let dir = common::devserver::scratch_dir("kube-manifests");
    let mut files = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for (variant, objects) in variants() {
        for (i, obj) in objects.iter().enumerate() {
            let kind = obj["kind"].as_str().unwrap().to_string();
            // k8s-openapi reads each one (a typed client could send it).
            let typed = match kind.as_str() {
                "Deployment" => {
                    serde_json::from_value::<k8s_openapi::api::apps::v1::Deployment>(obj.clone())
                        .map(|_| ())
                }
                "Service" => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Service>(obj.clone())
                        .map(|_| ())
                }
                "Secret" => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Secret>(obj.clone())
                        .map(|_| ())
                }
                "Ingress" => {
                    serde_json::from_value::<k8s_openapi::api::networking::v1::Ingress>(obj.clone())
                        .map(|_| ())
                }
                "HorizontalPodAutoscaler" => serde_json::from_value::<
                    k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
                >(obj.clone())
                .map(|_| ()),
                _ => Ok(()),
            };
            typed.unwrap_or_else(|e| panic!("{variant} {kind}: {e}"));
            kinds.insert(kind.clone());
            if kind == "Route" {
                continue;
            }
            files.push(write(&dir, &format!("{variant}-{i}-{kind}"), obj));
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "Deployment",
            "HorizontalPodAutoscaler",
            "Ingress",
            "Route",
            "Secret",
            "Service"
        ]
    );
    let (ok, text) = validate(&files);
    assert!(ok, "kubernetes-validate refused a manifest:\n{text}");

    // The validator really is strict: a misspelt field is refused.
    let mut typo = variants()[0].1[0].clone();
    typo["spec"]["replica"] = typo["spec"]["replicas"].take();
    let bad = write(&dir, "typo", &typo);
    let (ok, text) = validate(&[bad]);
    assert!(!ok && text.contains("replica"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
