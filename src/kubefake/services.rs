//! What the API server and the cloud do for a Service: a cluster IP (10.96.x.y) on create,
//! kept for good; a node port (30000-32767, one the host has free) for each port of a
//! `NodePort` or `LoadBalancer` Service that names none, kept across updates of the same
//! port; and, a while after it
//! appears, a `LoadBalancer` Service's ingress address (`127.0.0.1`, or the configured
//! hostname). Pure but for [`admit`] and [`reconcile`], which read and write the store.

use super::cluster::{self, Cluster};
use super::resources::{self, ResourceType};
use super::status::{self, Reply};
use super::store::{Store, type_key};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The node port range.
pub const NODE_PORTS: std::ops::RangeInclusive<u64> = 30000..=32767;

/// Whether a Service of this `spec.type` gets node ports.
pub fn has_node_ports(kind: &str) -> bool {
    matches!(kind, "NodePort" | "LoadBalancer")
}

/// The cluster IPs and node ports `services` hold.
pub fn in_use(services: &[Value]) -> (BTreeSet<String>, BTreeSet<u64>) {
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for s in services {
        if let Some(ip) = s["spec"]["clusterIP"].as_str() {
            ips.insert(ip.to_string());
        }
        for p in s["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(n) = p["nodePort"].as_u64() {
                ports.insert(n);
            }
        }
    }
    (ips, ports)
}

/// The first free cluster IP (10.96.0.1 and .10 are the API server's and DNS's).
pub fn next_cluster_ip(used: &BTreeSet<String>) -> Option<String> {
    (0..=255u32)
        .flat_map(|x| (1..=254u32).map(move |y| format!("10.96.{x}.{y}")))
        .filter(|ip| ip != "10.96.0.1" && ip != "10.96.0.10")
        .find(|ip| !used.contains(ip))
}

/// The first node port no Service holds and `free` says the host has free.
pub fn next_node_port(used: &BTreeSet<u64>, free: &dyn Fn(u64) -> bool) -> Option<u64> {
    NODE_PORTS
        .into_iter()
        .find(|p| !used.contains(p) && free(*p))
}

/// Whether the host's loopback port `port` is free, by binding it (kube-fake listens on each
/// node port, so one another process holds would never answer).
pub fn free_on_host(port: u64) -> bool {
    u16::try_from(port).is_ok_and(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
}

/// Fills in `svc`'s addresses (`old`: the version it replaces; `ips`/`ports`: what other
/// Services hold; `free`: whether the host has a node port free), or the 422 the API server
/// gives.
pub fn allocate(
    svc: &mut Value,
    old: Option<&Value>,
    ips: &BTreeSet<String>,
    ports: &BTreeSet<u64>,
    free: &dyn Fn(u64) -> bool,
) -> Result<(), Reply> {
    let name = svc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let invalid = |m: &str| status::invalid("", "services", &name, m);
    let kind = svc["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    let kept = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .map(str::to_string);
    let asked = svc["spec"]["clusterIP"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let ip = match (kept, asked) {
        (Some(k), Some(a)) if k != a => {
            return Err(invalid(&format!(
                "spec.clusterIPs[0]: Invalid value: []string{{\"{a}\"}}: may not change once set"
            )));
        }
        (Some(k), _) => k,
        (None, Some(a)) if a == "None" => a,
        (None, Some(a)) if ips.contains(&a) => {
            return Err(invalid(&format!(
                "spec.clusterIPs: Invalid value: []string{{\"{a}\"}}: failed to allocate IP {a}: \
                 provided IP is already allocated"
            )));
        }
        (None, Some(a)) => a,
        (None, None) => {
            next_cluster_ip(ips).ok_or_else(|| status::internal("no cluster IP left"))?
        }
    };
    svc["spec"]["clusterIP"] = json!(ip);
    svc["spec"]["clusterIPs"] = json!([ip]);
    if ip != "None" {
        svc["spec"]["ipFamilies"] = json!(["IPv4"]);
        svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
    }
    svc["spec"]["internalTrafficPolicy"] = json!("Cluster");
    if !has_node_ports(&kind) {
        return Ok(());
    }
    svc["spec"]["externalTrafficPolicy"] = json!("Cluster");
    let mut taken = ports.clone();
    let before: Vec<Value> = old
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    let Some(list) = svc["spec"]["ports"].as_array_mut() else {
        return Ok(());
    };
    for (i, port) in list.iter_mut().enumerate() {
        if let Some(n) = port["nodePort"].as_u64() {
            if !NODE_PORTS.contains(&n) {
                return Err(invalid(&format!(
                    "spec.ports[{i}].nodePort: Invalid value: {n}: provided port is not in the \
                     valid range. The range of valid ports is 30000-32767"
                )));
            }
            if !taken.insert(n) {
                return Err(invalid(&format!(
                    "spec.ports[{i}].nodePort: Invalid value: {n}: provided port is already allocated"
                )));
            }
            continue;
        }
        let same = before
            .iter()
            .find(|b| b["port"] == port["port"] && b["name"] == port["name"])
            .and_then(|b| b["nodePort"].as_u64());
        let n = match same {
            Some(n) => n,
            None => {
                next_node_port(&taken, free).ok_or_else(|| status::internal("no node port left"))?
            }
        };
        taken.insert(n);
        port["nodePort"] = json!(n);
    }
    Ok(())
}

fn service_type() -> Option<&'static ResourceType> {
    resources::find("", "v1", "services")
}

/// [`allocate`] against the Services in the store (the one being written aside).
pub fn admit(store: &Store, ns: &str, svc: &mut Value, old: Option<&Value>) -> Result<(), Reply> {
    let Some(rt) = service_type() else {
        return Ok(());
    };
    let name = svc["metadata"]["name"].clone();
    let others: Vec<Value> = store
        .objects(rt, None)
        .into_iter()
        .filter(|s| !(s["metadata"]["namespace"] == ns && s["metadata"]["name"] == name))
        .collect();
    let (ips, ports) = in_use(&others);
    allocate(svc, old, &ips, &ports, &free_on_host)
}

/// A `LoadBalancer` Service's `status.loadBalancer` at `now`, for one that appeared at
/// `born`; `None` for other types.
pub fn load_balancer(
    svc: &Value,
    born: Timestamp,
    now: Timestamp,
    c: &cluster::Behaviour,
) -> Option<Value> {
    if svc["spec"]["type"] != "LoadBalancer" {
        return None;
    }
    if cluster::elapsed(born, now) < cluster::nanos(c.load_balancer_after) {
        return Some(json!({}));
    }
    let ports: Vec<Value> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"port": p["port"], "protocol": p["protocol"]}))
        .collect();
    let mut ingress = match &c.load_balancer_hostname {
        Some(h) => json!({"hostname": h}),
        None => json!({"ip": "127.0.0.1", "ipMode": "VIP"}),
    };
    ingress["ports"] = json!(ports);
    Some(json!({"ingress": [ingress]}))
}

/// Gives each `LoadBalancer` Service its address once it is due.
pub fn reconcile(store: &mut Store, cluster: &mut Cluster, now: Timestamp) {
    let Some(rt) = service_type() else {
        return;
    };
    for mut svc in store.objects(rt, None) {
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = svc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let born = *cluster
            .born
            .entry((type_key(rt), ns.clone(), name))
            .or_insert(now);
        if let Some(lb) = load_balancer(&svc, born, now, &cluster.behaviour) {
            svc["status"]["loadBalancer"] = lb;
            store.replace_if_changed(rt, &ns, svc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(kind: &str, ports: Value) -> Value {
        json!({"metadata": {"name": "s"}, "spec": {"type": kind, "ports": ports}})
    }

    #[test]
    fn allocates_cluster_ips_and_node_ports() {
        let none = BTreeSet::new();
        let mut a = svc("ClusterIP", json!([{"port": 80}]));
        let any = |_| true;
        allocate(&mut a, None, &none, &BTreeSet::new(), &any).unwrap();
        assert_eq!(a["spec"]["clusterIP"], "10.96.0.2");
        assert!(a["spec"]["ports"][0].get("nodePort").is_none());
        let ips: BTreeSet<String> = ["10.96.0.2".to_string()].into();
        let used: BTreeSet<u64> = [30000].into();
        let mut b = svc(
            "NodePort",
            json!([{"port": 80}, {"port": 443, "nodePort": 30443}]),
        );
        allocate(&mut b, None, &ips, &used, &any).unwrap();
        assert_eq!(b["spec"]["clusterIP"], "10.96.0.3");
        assert_eq!(b["spec"]["ports"][0]["nodePort"], 30001);
        assert_eq!(b["spec"]["ports"][1]["nodePort"], 30443);
        // An update keeps both the IP and the port of the same service port.
        let mut again = svc("NodePort", json!([{"port": 80}]));
        allocate(&mut again, Some(&b), &ips, &used, &any).unwrap();
        assert_eq!(again["spec"]["clusterIP"], "10.96.0.3");
        assert_eq!(again["spec"]["ports"][0]["nodePort"], 30001);
        let mut taken = svc("NodePort", json!([{"port": 80, "nodePort": 30000}]));
        assert_eq!(
            allocate(&mut taken, None, &ips, &used, &any)
                .unwrap_err()
                .code,
            422
        );
        let mut moved = svc("ClusterIP", json!([]));
        moved["spec"]["clusterIP"] = json!("10.96.9.9");
        assert_eq!(
            allocate(&mut moved, Some(&b), &ips, &used, &any)
                .unwrap_err()
                .code,
            422
        );
        let mut headless = svc("ClusterIP", json!([]));
        headless["spec"]["clusterIP"] = json!("None");
        allocate(&mut headless, None, &ips, &used, &any).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(next_node_port(&NODE_PORTS.collect(), &any), None);
        // A port the host holds is passed over.
        let mut c = svc("NodePort", json!([{"port": 80}]));
        allocate(&mut c, None, &ips, &used, &|p| p != 30001).unwrap();
        assert_eq!(c["spec"]["ports"][0]["nodePort"], 30002);
    }

    #[test]
    fn load_balancers_get_an_address_after_a_while() {
        let at = |ms: i64| Timestamp::from_millisecond(1_780_000_000_000 + ms).unwrap();
        let b = cluster::Behaviour::default();
        let lb = svc("LoadBalancer", json!([{"port": 80, "protocol": "TCP"}]));
        assert_eq!(load_balancer(&lb, at(0), at(10), &b), Some(json!({})));
        let due = load_balancer(&lb, at(0), at(100), &b).unwrap();
        assert_eq!(due["ingress"][0]["ip"], "127.0.0.1");
        let named = cluster::Behaviour {
            load_balancer_hostname: Some("lb.example".into()),
            ..b.clone()
        };
        assert_eq!(
            load_balancer(&lb, at(0), at(100), &named).unwrap()["ingress"][0]["hostname"],
            "lb.example"
        );
        assert_eq!(
            load_balancer(&svc("NodePort", json!([])), at(0), at(100), &b),
            None
        );
    }
}
