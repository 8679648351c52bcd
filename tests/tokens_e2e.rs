//! Authentication tokens through splunkd-dev over HTTPS, as automation uses them against
//! splunkd: `authorization/tokens` to make, list, disable, enable and delete JWTs with curl,
//! `Authorization: Bearer <jwt>` (and `Splunk <jwt>`) on a `/mltk` endpoint, every way a token
//! stops working (disabled, deleted, expired, not yet valid, altered), the capabilities, a
//! restart, and Splunk's Python SDK connecting with `splunkToken`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use common::devserver::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const TOKENS: &str = "/services/authorization/tokens";
const DATA: &str = "/servicesNS/nobody/dsdl_handler/mltk/container_data?output_mode=json";

/// A splunkd-dev with TLS whose `tokenmaker` role may make and list its own tokens only, and
/// the user `bob` holding it (no /mltk capability).
fn server(tag: &str) -> DevServer {
    let home = scratch_dir(tag);
    std::fs::create_dir_all(home.join("etc/system/local")).unwrap();
    std::fs::write(
        home.join("etc/system/local/authorize.conf"),
        "[role_tokenmaker]\nimportRoles = user\nedit_tokens_own = enabled\nlist_tokens_own = enabled\n",
    )
    .unwrap();
    let s = DevServer::start_at(home, &["--tls"]);
    s.add_user("bob", "bob-Pw-123", "tokenmaker");
    s
}

fn ca(s: &DevServer) -> Vec<String> {
    let cert = s.home.join("etc/auth/splunkd-dev-cert.pem");
    vec!["--cacert".into(), cert.to_str().unwrap().to_string()]
}

/// curl over TLS with the server's certificate.
fn call(s: &DevServer, args: &[&str]) -> Resp {
    let extra = ca(s);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    curl(args, &extra)
}

/// `GET path` with `Authorization: <scheme> <token>`.
fn with_token(s: &DevServer, scheme: &str, token: &str, method: &str, path: &str) -> Resp {
    call(
        s,
        &[
            "-X",
            method,
            "-H",
            &format!("Authorization: {scheme} {token}"),
            &format!("{}{path}", s.url),
        ],
    )
}

/// Makes a token as `user:password` with form fields `fields`, asking for JSON in the URL.
fn create(s: &DevServer, creds: &str, fields: &[(&str, &str)]) -> Resp {
    create_at(s, creds, fields, "?output_mode=json")
}

/// Makes a token as `user:password` with form fields `fields`, at the collection URL followed
/// by `query`.
fn create_at(s: &DevServer, creds: &str, fields: &[(&str, &str)], query: &str) -> Resp {
    let mut args: Vec<String> = vec!["-u".into(), creds.into()];
    for (k, v) in fields {
        args.push("--data-urlencode".into());
        args.push(format!("{k}={v}"));
    }
    args.push(format!("{}{TOKENS}{query}", s.url));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    call(s, &args)
}

fn json_body(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// `(id, token)` of a 201 reply.
fn made(r: &Resp) -> (String, String) {
    assert_eq!(r.status, 201, "{}", r.body);
    let v = json_body(r);
    let c = &v["entry"][0]["content"];
    (
        c["id"].as_str().unwrap().to_string(),
        c["token"].as_str().unwrap().to_string(),
    )
}

fn admin_token(s: &DevServer, fields: &[(&str, &str)]) -> (String, String) {
    let mut all = vec![("name", "admin"), ("audience", "e2e")];
    all.extend_from_slice(fields);
    made(&create(s, &s.basic(), &all))
}

fn set_status(s: &DevServer, user: &str, id: &str, status: &str) -> Resp {
    call(
        s,
        &[
            "-u",
            &s.basic(),
            "-d",
            &format!("id={id}"),
            "-d",
            &format!("status={status}"),
            &format!("{}{TOKENS}/{user}?output_mode=json", s.url),
        ],
    )
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(part).expect("base64url")).expect("JSON")
}

fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    let v = json_body(r);
    assert_eq!(v["messages"][0]["type"], "WARN", "{what}: {v}");
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("call not properly authenticated"),
        "{what}: {v}"
    );
}

#[test]
fn tokens_are_made_listed_used_disabled_and_deleted_with_curl() {
    let s = server("tokens-life");
    let before = jiff::Timestamp::now().as_second();
    let (id, token) = admin_token(&s, &[("expires_on", "+1h")]);

    // The JWT is shaped like splunkd's.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header = String::from_utf8(B64URL.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        r#"{"kid":"splunk.secret","alg":"HS512","ver":"v2","ttyp":"static"}"#
    );
    let claims = decode_part(parts[1]);
    let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["iss", "sub", "aud", "idp", "jti", "iat", "exp", "nbr"],
        "{claims}"
    );
    assert_eq!(claims["sub"], "admin");
    assert_eq!(claims["aud"], "e2e");
    assert_eq!(claims["idp"], "Splunk");
    assert_eq!(claims["jti"], id.as_str());
    assert!(claims["iss"].as_str().unwrap().starts_with("admin from "));
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= before + 30, "{claims}");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert_eq!(claims["nbr"].as_i64(), Some(iat));

    // Listed by id, without the token; Atom by default.
    let list = call(
        &s,
        &[
            "-u",
            &s.basic(),
            &format!("{}{TOKENS}?output_mode=json", s.url),
        ],
    );
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(!list.body.contains(&token) && !list.body.contains(parts[2]));
    let v = json_body(&list);
    let entry = &v["entry"][0];
    assert_eq!(entry["name"], id.as_str());
    assert_eq!(entry["content"]["status"], "enabled");
    assert_eq!(entry["content"]["claims"]["sub"], "admin");
    assert_eq!(entry["content"]["claims"]["exp"], iat + 3600);
    assert_eq!(entry["content"]["headers"]["kid"], "splunk.secret");
    assert_eq!(entry["content"]["lastUsed"], 0);
    let atom = call(
        &s,
        &[
            "-u",
            &s.basic(),
            &format!(
                "{}/servicesNS/nobody/dsdl_handler/authorization/tokens",
                s.url
            ),
        ],
    );
    assert!(
        atom.body.contains(&format!("<title>{id}</title>")),
        "{}",
        atom.body
    );
    assert!(!atom.body.contains(&token));

    // Bearer and Splunk schemes authenticate as admin.
    let r = with_token(&s, "Bearer", &token, "GET", DATA);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_body(&r)["status"], "success", "{}", r.body);
    assert_eq!(with_token(&s, "Splunk", &token, "GET", DATA).status, 200);
    let ctx = with_token(
        &s,
        "Bearer",
        &token,
        "GET",
        "/services/authentication/current-context?output_mode=json",
    );
    assert_eq!(json_body(&ctx)["entry"][0]["content"]["username"], "admin");
    let v = json_body(&call(
        &s,
        &[
            "-u",
            &s.basic(),
            &format!("{}{TOKENS}?output_mode=json", s.url),
        ],
    ));
    assert!(v["entry"][0]["content"]["lastUsed"].as_i64().unwrap() >= iat);
    assert_eq!(v["entry"][0]["content"]["lastUsedIp"], "127.0.0.1");

    // Disabled: 401 in splunkd's shape; enabled again: 200.
    let r = set_status(&s, "admin", &id, "disabled");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_body(&r)["entry"][0]["content"]["status"], "disabled");
    assert_unauthorized(&with_token(&s, "Bearer", &token, "GET", DATA), "disabled");
    assert_eq!(set_status(&s, "admin", &id, "enabled").status, 200);
    assert_eq!(with_token(&s, "Bearer", &token, "GET", DATA).status, 200);
    assert_eq!(set_status(&s, "admin", "no-such-id", "enabled").status, 404);

    // A restart keeps the token and its status.
    assert_eq!(set_status(&s, "admin", &id, "disabled").status, 200);
    let s = s.restart(&["--tls"]);
    assert_unauthorized(
        &with_token(&s, "Bearer", &token, "GET", DATA),
        "disabled after restart",
    );
    assert_eq!(set_status(&s, "admin", &id, "enabled").status, 200);
    assert_eq!(with_token(&s, "Bearer", &token, "GET", DATA).status, 200);

    // Deleted: 401, and gone from the list.
    let r = call(
        &s,
        &[
            "-u",
            &s.basic(),
            "-X",
            "DELETE",
            &format!("{}{TOKENS}/admin?id={id}&output_mode=json", s.url),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_unauthorized(&with_token(&s, "Bearer", &token, "GET", DATA), "deleted");
    let v = json_body(&call(
        &s,
        &[
            "-u",
            &s.basic(),
            &format!("{}{TOKENS}?output_mode=json", s.url),
        ],
    ));
    assert_eq!(v["entry"], json!([]));

    // Session keys still work as Bearer.
    let key = s.login(&ca(&s).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(with_token(&s, "Bearer", &key, "GET", DATA).status, 200);

    // The token is in no log and no file of SPLUNK_HOME.
    for f in [
        "var/log/splunk/splunkd.log",
        "var/log/splunk/splunkd_access.log",
        "etc/auth/splunkd-dev-tokens.conf",
    ] {
        let text = std::fs::read_to_string(s.home.join(f)).unwrap_or_default();
        assert!(!text.contains(parts[2]), "the token is in {f}");
    }
}

#[test]
fn expired_early_and_altered_tokens_are_refused() {
    let s = server("tokens-refused");
    let (_, short) = admin_token(&s, &[("expires_on", "+2s")]);
    assert_eq!(with_token(&s, "Bearer", &short, "GET", DATA).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    assert_unauthorized(&with_token(&s, "Bearer", &short, "GET", DATA), "expired");

    let (_, early) = admin_token(&s, &[("expires_on", "+2h"), ("not_before", "+1h")]);
    assert_unauthorized(&with_token(&s, "Bearer", &early, "GET", DATA), "not before");

    let (_, good) = admin_token(&s, &[("expires_on", "+1h")]);
    let (head, sig) = good.rsplit_once('.').unwrap();
    let mut bytes = sig.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}.{}", String::from_utf8(bytes).unwrap());
    assert_unauthorized(&with_token(&s, "Bearer", &forged, "GET", DATA), "altered");
    assert_eq!(with_token(&s, "Bearer", &good, "GET", DATA).status, 200);

    // Atom by default, as splunkd answers.
    let r = create_at(
        &s,
        &s.basic(),
        &[("name", "admin"), ("audience", "atom")],
        "",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains("<s:key name=\"token\">eyJ"), "{}", r.body);

    // output_mode in the body counts, as splunklib sends it there.
    let r = create_at(
        &s,
        &s.basic(),
        &[
            ("name", "admin"),
            ("audience", "body"),
            ("output_mode", "json"),
        ],
        "",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(json_body(&r)["entry"][0]["content"]["token"].is_string());

    // Bad arguments are 400s.
    for fields in [
        vec![("name", "admin")],
        vec![("audience", "x")],
        vec![("name", "ghost"), ("audience", "x")],
        vec![("name", "splunk-system-user"), ("audience", "x")],
        vec![("name", "nobody"), ("audience", "x")],
        vec![("name", "admin"), ("audience", "x"), ("expires_on", "soon")],
        vec![("name", "admin"), ("audience", "x"), ("expires_on", "-1h")],
    ] {
        let r = create(&s, &s.basic(), &fields);
        assert_eq!(r.status, 400, "{fields:?}: {}", r.body);
    }
}

#[test]
fn capabilities_decide_who_makes_and_uses_tokens() {
    let s = server("tokens-caps");
    let bob = "bob:bob-Pw-123";
    // bob may make his own tokens, not admin's.
    let r = create(&s, bob, &[("name", "admin"), ("audience", "x")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("edit_tokens_all"), "{}", r.body);
    let (bob_id, bob_token) = made(&create(&s, bob, &[("name", "bob"), ("audience", "x")]));
    let (admin_id, _) = admin_token(&s, &[]);

    // bob lists his own only; admin lists both.
    let v = json_body(&call(
        &s,
        &["-u", bob, &format!("{}{TOKENS}?output_mode=json", s.url)],
    ));
    let names: Vec<&str> = v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [bob_id.as_str()]);
    let r = call(
        &s,
        &[
            "-u",
            bob,
            &format!("{}{TOKENS}?username=admin&output_mode=json", s.url),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let v = json_body(&call(
        &s,
        &[
            "-u",
            &s.basic(),
            &format!("{}{TOKENS}?output_mode=json", s.url),
        ],
    ));
    assert_eq!(v["entry"].as_array().unwrap().len(), 2, "{v}");
    // bob cannot disable admin's token.
    let r = call(
        &s,
        &[
            "-u",
            bob,
            "-d",
            &format!("id={admin_id}"),
            "-d",
            "status=disabled",
            &format!("{}{TOKENS}/admin?output_mode=json", s.url),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // bob's token is bob, who lacks the /mltk capabilities.
    let r = call(
        &s,
        &[
            "-H",
            &format!("Authorization: Bearer {bob_token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"payload":{"model":"m1","image":"x","mode":"DEV"}}"#,
            &format!(
                "{}/servicesNS/nobody/dsdl_handler/mltk/start_container?output_mode=json",
                s.url
            ),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("user=bob"), "{}", r.body);
    assert_eq!(
        with_token(&s, "Bearer", &bob_token, "GET", DATA).status,
        403
    );
    // A user without edit_tokens_own makes none.
    s.add_user("carol", "carol-Pw-123", "user");
    let r = create(
        &s,
        "carol:carol-Pw-123",
        &[("name", "carol"), ("audience", "x")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("edit_tokens_own"), "{}", r.body);
}

#[test]
fn splunklib_connects_with_a_token() {
    common::require_python_module("splunklib.client", "splunk-sdk");
    let s = server("tokens-splunklib");
    let (_, token) = admin_token(&s, &[("expires_on", "+1h")]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/splunklib_token.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&s.url)
        .env("SPLUNK_TOKEN", &token)
        .output()
        .expect("run the splunklib script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("splunklib token checks passed"), "{stdout}");
}

/// The README's "Automation with a token" pipeline: `examples/pipeline.sh` (curl) and
/// `examples/pipeline.py` (splunklib) run as a user runs them, against splunkd-dev over HTTPS
/// and the real Docker engine with the suite's test image, and the README shows both files
/// verbatim.
mod pipeline {
    use crate::common::devserver::{DevServer, admin_request};
    use crate::common::docker::{
        LabelGuard, MANAGER_ID_LABEL, catalog_entry, containers_with_label, contract_image,
        require_docker,
    };
    use std::path::Path;
    use std::process::Command;

    const API_TOKEN: &str = "pipeline-api-token-0123456789";

    fn example(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(name),
        )
        .unwrap_or_else(|e| panic!("examples/{name}: {e}"))
    }

    #[test]
    fn the_readme_shows_the_example_scripts_verbatim() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for (name, lang) in [("pipeline.sh", "sh"), ("pipeline.py", "python")] {
            let block = format!("```{lang}\n{}```\n", example(name));
            assert!(
                readme.contains(&block),
                "README.md does not show examples/{name} verbatim in a ```{lang} block"
            );
        }
    }

    /// Runs `program script` with the pipeline's environment; returns stdout, panicking with the
    /// output when it fails.
    fn run(s: &DevServer, program: &str, script: &str, model: &str, image: &str) -> String {
        let cert = s.home.join("etc/auth/splunkd-dev-cert.pem");
        let out = Command::new(program)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("examples")
                    .join(script),
            )
            .env("SPLUNK_URL", &s.url)
            .env("SPLUNK_USER", "admin")
            .env("SPLUNK_PASSWORD", crate::common::devserver::ADMIN_PASSWORD)
            .env("SPLUNK_CA", &cert)
            .env("DSDL_IMAGE", image)
            .env("DSDL_API_TOKEN", API_TOKEN)
            .env("MODEL", model)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    #[test]
    fn the_pipeline_scripts_deploy_a_model_with_a_token() {
        if !require_docker() {
            return;
        }
        let s = DevServer::start("pipeline", &["--tls", "--pool", "2"]);
        let guard = LabelGuard { value: s.guid() };
        let image = contract_image();
        let (repo, name) = catalog_entry(&image);
        let cert = s.home.join("etc/auth/splunkd-dev-cert.pem");
        let cacert = cert.to_str().unwrap();
        // The admin offers the image in the catalog, as before any deployment.
        let mut args = vec!["--cacert", cacert];
        let fields = [
            "name=pipeline".to_string(),
            "title=pipeline".to_string(),
            format!("image={name}"),
            format!("repo={repo}"),
            "runtime=none".to_string(),
        ];
        for f in &fields {
            args.extend(["--data-urlencode", f.as_str()]);
        }
        let r = admin_request(
            &s,
            "POST",
            "/servicesNS/nobody/dsdl_handler/configs/conf-docker_images?output_mode=json",
            &args,
        );
        assert_eq!(r.status, 201, "{}", r.body);

        for (program, script, model) in [
            ("bash", "pipeline.sh", "pipeline_sh"),
            ("python3", "pipeline.py", "pipeline_py"),
        ] {
            let out = run(&s, program, script, model, &name);
            assert!(
                out.contains("Container configurations validated successfully"),
                "{script}: {out}"
            );
            assert!(
                out.contains("The container started successfully"),
                "{script}: {out}"
            );
            assert!(
                out.contains(&format!("{model} is ready at http://localhost:")),
                "{script}: {out}"
            );
            // The image answers a JSON-encoded string; "valid" means it took the API token.
            assert!(
                out.contains(r#"\"token\":\"valid\""#),
                "{script}: the model's API answered: {out}"
            );
            assert!(
                containers_with_label(MANAGER_ID_LABEL, &guard.value).is_empty(),
                "{script} left a container running"
            );
        }

        // Each run made its own token and used it.
        let r = admin_request(
            &s,
            "GET",
            "/services/authorization/tokens?output_mode=json",
            &[
                "--cacert",
                s.home
                    .join("etc/auth/splunkd-dev-cert.pem")
                    .to_str()
                    .unwrap(),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let entries = v["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{v}");
        for e in entries {
            assert_eq!(e["content"]["claims"]["aud"], "dsdl-pipeline");
            assert!(e["content"]["lastUsed"].as_i64().unwrap() > 0, "{e}");
        }
    }
}
