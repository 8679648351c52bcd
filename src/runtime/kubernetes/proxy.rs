//! Which proxy, if any, the API server is reached through: `HTTPS_PROXY` (or `https_proxy`)
//! unless `NO_PROXY` (or `no_proxy`) exempts the server, with the rules Go's `httpproxy` (and
//! so kubectl) applies. kube's `Config::new` reads no environment, and its kubeconfig loader
//! checks `NO_PROXY` against the proxy's address rather than the server's, so the choice is made
//! here; kube then tunnels through the proxy with `CONNECT` (its `http-proxy` feature). Pure:
//! the environment comes in as a lookup.

use crate::error::ApiError;
use hyper::Uri;
use std::net::IpAddr;

/// The proxy for `server`, from the environment seen through `env`.
pub fn proxy_for(
    server: &Uri,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Uri>, ApiError> {
    let var = |names: [&'static str; 2]| {
        names.into_iter().find_map(|n| {
            env(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(|v| (n, v))
        })
    };
    let Some((name, raw)) = var(["HTTPS_PROXY", "https_proxy"]) else {
        return Ok(None);
    };
    let host = server
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = server.port_u16().unwrap_or(443);
    // Loopback is never proxied (as in Go).
    if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return Ok(None);
    }
    if let Some((_, list)) = var(["NO_PROXY", "no_proxy"])
        && exempts(&list, &host, port)
    {
        return Ok(None);
    }
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "{name} {why}; fix it (or add the cluster's host to NO_PROXY) in the environment \
             splunkd runs in."
        ))
    };
    // A proxy given as host:port means http:// (as in Go and curl).
    let with_scheme = if raw.contains("://") {
        raw
    } else {
        format!("http://{raw}")
    };
    // The URL may hold the proxy's password: only its scheme is ever shown.
    let uri: Uri = with_scheme
        .parse()
        .map_err(|_| bad("is not a proxy URL such as http://proxy.example.com:3128"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(bad(&format!(
                "uses the scheme {:?}, which this client cannot use (http or https only)",
                crate::names::excerpt(other, 20)
            )));
        }
        None => {
            return Err(bad(
                "is not a proxy URL such as http://proxy.example.com:3128",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("names no host"));
    }
    Ok(Some(uri))
}

/// Whether the `NO_PROXY` list exempts `host` (lower case, no brackets) on `port`: `*`; an IP
/// or CIDR range; a domain, which also covers its subdomains; `.domain` or `*.domain`, only
/// its subdomains; any of them with `:port` to exempt that port only.
pub fn exempts(list: &str, host: &str, port: u16) -> bool {
    let ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(ip) = ip {
                if let Some((net, bits)) = entry.split_once('/') {
                    return in_cidr(ip, net, bits);
                }
                if let Ok(e) = entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                {
                    return ip == e;
                }
            }
            let (name, entry_port) = split_port(&entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name.strip_prefix('*').unwrap_or(name);
            match name.strip_prefix('.') {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == name || host.ends_with(&format!(".{name}")),
            }
        })
}

/// `host:port` into its parts (an IPv6 literal keeps its colons).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((h, p)) => (h, p.parse().ok()),
            None => (rest.trim_end_matches(']'), None),
        };
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (entry, None),
    }
}

/// Whether `ip` is in `net`/`bits`.
fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn server(url: &str) -> Uri {
        url.parse().unwrap()
    }

    #[test]
    fn https_proxy_is_used_unless_no_proxy_or_loopback_exempts() {
        let api = server("https://api.k8s.example.com:6443");
        assert_eq!(proxy_for(&api, &env(&[])).unwrap(), None);
        let e = env(&[("https_proxy", "proxy.corp:3128")]);
        assert_eq!(
            proxy_for(&api, &e).unwrap().unwrap().to_string(),
            "http://proxy.corp:3128/"
        );
        // The upper-case name wins, as in Go.
        let e = env(&[
            ("HTTPS_PROXY", "https://secure.corp:443"),
            ("https_proxy", "http://other:1"),
        ]);
        assert_eq!(
            proxy_for(&api, &e).unwrap().unwrap().host(),
            Some("secure.corp")
        );
        let e = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "k8s.example.com"),
        ]);
        assert_eq!(proxy_for(&api, &e).unwrap(), None);
        let e = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("no_proxy", "other.com, 10.0.0.0/8"),
        ]);
        assert!(proxy_for(&api, &e).unwrap().is_some());
        for local in [
            "https://localhost:6443",
            "https://127.0.0.1:6443",
            "https://[::1]:6443",
        ] {
            let e = env(&[("HTTPS_PROXY", "http://p:1")]);
            assert_eq!(proxy_for(&server(local), &e).unwrap(), None, "{local}");
        }
        // HTTP_PROXY is for http:// URLs only; the API server is https.
        assert_eq!(
            proxy_for(&api, &env(&[("HTTP_PROXY", "http://p:1")])).unwrap(),
            None
        );
    }

    #[test]
    fn unusable_proxies_are_named_without_their_credentials() {
        let api = server("https://api.example.com");
        let e = proxy_for(&api, &env(&[("HTTPS_PROXY", "socks5://u:hunter2@p:1080")])).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.message
                .starts_with("HTTPS_PROXY uses the scheme \"socks5\""),
            "{}",
            e.message
        );
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        let e = proxy_for(&api, &env(&[("https_proxy", "http://u:hunter2@ bad")])).unwrap_err();
        assert!(
            e.message.starts_with("https_proxy is not a proxy URL"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn no_proxy_entries_match_as_in_go() {
        for (list, host, port, exempt) in [
            ("*", "anything", 443, true),
            ("example.com", "example.com", 443, true),
            ("example.com", "api.example.com", 443, true),
            ("example.com", "notexample.com", 443, false),
            (".example.com", "example.com", 443, false),
            (".example.com", "api.example.com", 443, true),
            ("*.example.com", "api.example.com", 443, true),
            ("EXAMPLE.com:6443", "api.example.com", 6443, true),
            ("example.com:6443", "api.example.com", 443, false),
            ("10.0.0.0/8", "10.1.2.3", 443, true),
            ("10.0.0.0/8", "11.1.2.3", 443, false),
            ("10.1.2.3", "10.1.2.3", 443, true),
            ("fd00::/8", "fd00::1", 443, true),
            ("[fd00::1]", "fd00::1", 443, true),
            ("0.0.0.0/0", "192.0.2.1", 443, true),
            ("a.com,, b.com ", "x.b.com", 443, true),
            ("10.0.0.0/99", "10.0.0.1", 443, false),
        ] {
            assert_eq!(exempts(list, host, port), exempt, "{list} {host}:{port}");
        }
    }
}
