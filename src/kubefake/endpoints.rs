//! kube-proxy's part: which node ports the Services want listened on, and where a connection
//! to one goes — a ready pod the Service selects, on the container port its `targetPort`
//! names (by name or number; absent, the Service port itself). Pure.

use super::services;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a node port leads to; a listener is restarted when this changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Service's namespace.
    pub ns: String,
    /// The Service's name.
    pub service: String,
    /// Its selector (`None`: it has none, so no endpoints).
    pub selector: Option<BTreeMap<String, String>>,
    /// The port's `targetPort`: a name, or a number as a string.
    pub target_port: String,
}

/// Where one connection goes: a pod, its container and the port there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The pod's name.
    pub pod: String,
    /// The index of the container that declares the port (0 for an undeclared number).
    pub container: usize,
    /// The container port.
    pub port: u64,
}

/// The node ports the `services` want listened on, each with where it leads.
pub fn wanted(services: &[Value]) -> BTreeMap<u16, Target> {
    let mut out = BTreeMap::new();
    for svc in services {
        let kind = svc["spec"]["type"].as_str().unwrap_or("ClusterIP");
        if !services::has_node_ports(kind) {
            continue;
        }
        let selector = svc["spec"]["selector"].as_object().map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        });
        for port in svc["spec"]["ports"].as_array().into_iter().flatten() {
            let Some(node_port) = port["nodePort"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
            else {
                continue;
            };
            let target_port = match &port["targetPort"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => port["port"].to_string(),
            };
            out.insert(
                node_port,
                Target {
                    ns: svc["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                    service: svc["metadata"]["name"].as_str().unwrap_or_default().into(),
                    selector: selector.clone(),
                    target_port,
                },
            );
        }
    }
    out
}

/// Whether `pod` is an endpoint: ready and not being deleted.
fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The container and port `target_port` names in `pod`.
pub fn container_port(pod: &Value, target_port: &str) -> Option<(usize, u64)> {
    let containers = pod["spec"]["containers"].as_array()?;
    let declared = containers.iter().enumerate().find_map(|(i, c)| {
        c["ports"].as_array()?.iter().find_map(|p| {
            let n = p["containerPort"].as_u64()?;
            let hit = p["name"] == target_port || n.to_string() == target_port;
            hit.then_some((i, n))
        })
    });
    // A number reaches the pod's IP on that port whether a container declares it or not.
    declared.or_else(|| target_port.parse().ok().map(|n| (0, n)))
}

/// The endpoints of `target` among `pods` (those of its namespace), in order.
pub fn endpoints(target: &Target, pods: &[Value]) -> Vec<Backend> {
    let Some(selector) = &target.selector else {
        return Vec::new();
    };
    pods.iter()
        .filter(|p| p["metadata"]["namespace"] == target.ns.as_str())
        .filter(|p| {
            selector
                .iter()
                .all(|(k, v)| p["metadata"]["labels"][k] == v.as_str())
        })
        .filter(|p| ready(p))
        .filter_map(|p| {
            let (container, port) = container_port(p, &target.target_port)?;
            Some(Backend {
                pod: p["metadata"]["name"].as_str()?.to_string(),
                container,
                port,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, app: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "dsdl", "labels": {"app": app}},
               "spec": {"containers": [{"name": "side", "ports": [{"name": "metrics", "containerPort": 9000}]},
                                       {"name": "c", "ports": [{"name": "api", "containerPort": 5000}]}]},
               "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn node_ports_of_node_port_and_load_balancer_services() {
        let svc = |kind: &str, np: u64| {
            json!({"metadata": {"name": "m", "namespace": "dsdl"},
                   "spec": {"type": kind, "selector": {"app": "m"},
                            "ports": [{"port": 5000, "targetPort": "api", "nodePort": np},
                                      {"port": 80, "nodePort": np + 1}]}})
        };
        let w = wanted(&[
            svc("NodePort", 30001),
            svc("LoadBalancer", 30010),
            svc("ClusterIP", 30020),
        ]);
        assert_eq!(
            w.keys().copied().collect::<Vec<_>>(),
            [30001, 30002, 30010, 30011]
        );
        assert_eq!(w[&30001].target_port, "api");
        assert_eq!(
            w[&30002].target_port, "80",
            "no targetPort: the port itself"
        );
        assert_eq!(w[&30001].selector.as_ref().unwrap()["app"], "m");
    }

    #[test]
    fn connections_go_to_ready_selected_pods_on_the_named_port() {
        let target = Target {
            ns: "dsdl".into(),
            service: "m".into(),
            selector: Some([("app".to_string(), "m".to_string())].into()),
            target_port: "api".into(),
        };
        let mut elsewhere = pod("m-3", "m", true);
        elsewhere["metadata"]["namespace"] = json!("other");
        let pods = [
            pod("m-1", "m", false),
            pod("x-1", "x", true),
            elsewhere,
            pod("m-2", "m", true),
        ];
        assert_eq!(
            endpoints(&target, &pods),
            [Backend {
                pod: "m-2".into(),
                container: 1,
                port: 5000
            }]
        );
        let by_number = Target {
            target_port: "9000".into(),
            ..target.clone()
        };
        assert_eq!(endpoints(&by_number, &pods)[0].container, 0);
        let unnamed = Target {
            target_port: "jupyter".into(),
            ..target.clone()
        };
        assert!(endpoints(&unnamed, &pods).is_empty(), "no such port name");
        let undeclared = Target {
            target_port: "8080".into(),
            ..target.clone()
        };
        assert_eq!(endpoints(&undeclared, &pods)[0].port, 8080);
        let no_selector = Target {
            selector: None,
            ..target
        };
        assert!(endpoints(&no_selector, &pods).is_empty());
    }
}
