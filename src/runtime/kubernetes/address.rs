//! Where a model on Kubernetes is reached, per `service_type` (reference 6.4, with its
//! defects fixed): the cluster IP when Splunk runs in the cluster, node ports on the
//! configured node host names, the load balancer's address, the Route's host, the Ingress
//! host pattern; `https` for the API and Jupyter when the container serves TLS (always behind
//! a Route or an Ingress, which terminate TLS). An address not known yet (a load balancer
//! still being made) is an error saying so, and is filled in later. Pure.

use super::manifest::{Exposure, Settings, ingress_host, port_name};
use crate::runtime::plan::{Role, Urls, url_host};
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

/// The connection's settings that decide the URLs besides the objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeHosts {
    /// `node_port_hostname_internal`: what Splunk calls a node port on.
    pub internal: Option<String>,
    /// `node_port_hostname_external`: what users' browsers call.
    pub external: Option<String>,
}

/// The URLs of the model whose objects are named `name` and serve `roles`, from its Service
/// and (for `route`) its Routes.
pub fn urls(
    name: &str,
    roles: &[Role],
    s: &Settings,
    hosts: &NodeHosts,
    service: &Service,
    routes: &[Value],
) -> Result<Urls, String> {
    let scheme = |role: Role| match role {
        Role::Api | Role::Jupyter if s.https => "https",
        _ => "http",
    };
    let spec = service.spec.as_ref().ok_or("the Service has no spec")?;
    let port_of = |role: Role| {
        spec.ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(port_name(role)))
    };
    let balancer = service
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .and_then(|i| i.first())
        .and_then(|i| i.hostname.clone().or_else(|| i.ip.clone()));
    // The URL of `role` for a caller inside (`inside`: Splunk) or outside.
    let url = |role: Role, inside: bool| -> Result<String, String> {
        let port =
            port_of(role).ok_or_else(|| format!("the Service has no {} port", port_name(role)))?;
        if inside && s.in_cluster {
            let ip = spec
                .cluster_ip
                .as_deref()
                .filter(|ip| !ip.is_empty() && *ip != "None")
                .ok_or("the Service has no cluster IP yet")?;
            return Ok(format!("{}://{}:{}", scheme(role), url_host(ip), port.port));
        }
        match s.exposure {
            Exposure::NodePort => {
                let node_port = port.node_port.ok_or_else(|| {
                    format!("the Service has no node port for {} yet", port_name(role))
                })?;
                let host = if inside {
                    &hosts.internal
                } else {
                    &hosts.external
                };
                let host = host.clone().or_else(|| balancer.clone()).ok_or(
                    "no node host name is set (node_port_hostname_internal and _external)",
                )?;
                Ok(format!(
                    "{}://{}:{node_port}",
                    scheme(role),
                    url_host(&host)
                ))
            }
            Exposure::LoadBalancer => {
                let host = balancer
                    .clone()
                    .ok_or("the load balancer has no address yet")?;
                Ok(format!(
                    "{}://{}:{}",
                    scheme(role),
                    url_host(&host),
                    port.port
                ))
            }
            Exposure::Route => {
                let name = format!("{name}-{}", port_name(role));
                let host = routes
                    .iter()
                    .find(|r| r["metadata"]["name"] == name.as_str())
                    .and_then(|r| r["spec"]["host"].as_str())
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| format!("the Route {name} has no host yet"))?;
                Ok(format!("https://{host}"))
            }
            Exposure::Ingress => {
                let host = ingress_host(s, name, role)
                    .ok_or("ingress_host_pattern is not set, so the Ingress has no host")?;
                Ok(format!("https://{host}"))
            }
        }
    };
    let optional = |role: Role| -> Result<String, String> {
        if roles.contains(&role) {
            url(role, false)
        } else {
            Ok(String::new())
        }
    };
    Ok(Urls {
        api_url: url(Role::Api, true)?,
        // In the cluster the API has no outside address: Splunk's is the only one.
        api_url_external: if s.in_cluster {
            url(Role::Api, true)?
        } else {
            url(Role::Api, false)?
        },
        jupyter_url: optional(Role::Jupyter)?,
        tensorboard_url: optional(Role::Tensorboard)?,
        spark_url: optional(Role::Spark)?,
        mlflow_url: optional(Role::Mlflow)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conffile::Stanza;
    use crate::model::record::Mode;
    use crate::runtime::plan::ports;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::read(
            &Stanza::from_pairs("kubernetes", pairs),
            &BTreeMap::new(),
            "dsdl",
        )
        .unwrap()
    }

    fn service(ports: Value, lb: Option<&str>) -> Service {
        let mut v = json!({"spec": {"clusterIP": "10.96.0.7", "ports": ports}});
        if let Some(ip) = lb {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
        }
        serde_json::from_value(v).unwrap()
    }

    fn hosts() -> NodeHosts {
        NodeHosts {
            internal: Some("node.internal".into()),
            external: Some("node.example.com".into()),
        }
    }

    const NAME: &str = "mltk-m-1";

    #[test]
    fn node_ports_use_the_internal_host_for_splunk_and_the_external_for_people() {
        let roles: Vec<Role> = ports(Mode::Dev, "m").iter().map(|p| p.role).collect();
        let s = settings(&[]);
        let svc = service(
            json!([{"name": "api", "port": 5000, "nodePort": 31000},
                   {"name": "jupyter", "port": 8888, "nodePort": 31001},
                   {"name": "tensorboard", "port": 6006, "nodePort": 31002},
                   {"name": "mlflow", "port": 6060, "nodePort": 31003},
                   {"name": "spark", "port": 4040, "nodePort": 31004}]),
            None,
        );
        let u = urls(NAME, &roles, &s, &hosts(), &svc, &[]).unwrap();
        assert_eq!(u.api_url, "http://node.internal:31000");
        assert_eq!(u.api_url_external, "http://node.example.com:31000");
        assert_eq!(u.jupyter_url, "http://node.example.com:31001");
        assert_eq!(u.mlflow_url, "http://node.example.com:31003");
        // No node port allocated yet: said, not guessed.
        let bare = service(json!([{"name": "api", "port": 5000}]), None);
        let e = urls(NAME, &[Role::Api], &s, &hosts(), &bare, &[]).unwrap_err();
        assert!(e.contains("no node port for api"), "{e}");
        // A PROD model has no Jupyter URL.
        let u = urls(NAME, &[Role::Api], &s, &hosts(), &svc, &[]).unwrap();
        assert_eq!(u.jupyter_url, "");
    }

    #[test]
    fn load_balancers_routes_ingresses_and_in_cluster_each_have_their_form() {
        let api = json!([{"name": "api", "port": 5000, "nodePort": 30500}]);
        let at = |s: &Settings, svc: &Service, routes: &[Value]| {
            urls(NAME, &[Role::Api], s, &hosts(), svc, routes)
        };
        let lb = settings(&[
            ("service_type", "load_balancer"),
            ("container_enable_https", "true"),
        ]);
        let e = at(&lb, &service(api.clone(), None), &[]).unwrap_err();
        assert!(e.contains("no address yet"), "{e}");
        let u = at(&lb, &service(api.clone(), Some("203.0.113.9")), &[]).unwrap();
        assert_eq!(u.api_url, "https://203.0.113.9:5000");

        let route = settings(&[("service_type", "route")]);
        let routes = [json!({"metadata": {"name": "mltk-m-1-api"},
                             "spec": {"host": "m.apps.example.com"}})];
        let u = at(&route, &service(api.clone(), None), &routes).unwrap();
        assert_eq!(u.api_url, "https://m.apps.example.com");
        assert!(at(&route, &service(api.clone(), None), &[]).is_err());

        let ingress = settings(&[
            ("service_type", "ingress"),
            ("ingress_host_pattern", "{name}-{port}.example.com"),
        ]);
        let u = at(&ingress, &service(api.clone(), None), &[]).unwrap();
        assert_eq!(u.api_url_external, "https://mltk-m-1-api.example.com");

        let inside = settings(&[("in_cluster_mode", "1"), ("service_type", "ingress")]);
        let u = at(&inside, &service(api, None), &[]).unwrap();
        assert_eq!(u.api_url, "http://10.96.0.7:5000");
        assert_eq!(u.api_url_external, u.api_url);
    }
}
