//! The README's "Automation with a token" pipeline: `examples/pipeline.sh` (curl) and
//! `examples/pipeline.py` (splunklib) run as a user runs them, against splunkd-dev over HTTPS
//! and the real Docker engine with the suite's test image, and the README shows both files
//! verbatim.

mod common;

use common::devserver::{DevServer, admin_request};
use common::docker::{
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
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
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
        .env("SPLUNK_PASSWORD", common::devserver::ADMIN_PASSWORD)
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
