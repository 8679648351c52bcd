//! Helpers shared by the integration tests. Each test crate uses only part of them.
#![allow(dead_code)]

pub mod contract;
pub mod devserver;
pub mod docker;
pub mod driver;
pub mod flood_engine;
pub mod kube;
pub mod wire;

/// Fails the test, saying how to install it, unless python3 can import `module` (from the PyPI
/// package `package`, which scripts/test.sh installs).
pub fn require_python_module(module: &str, package: &str) {
    let import = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("python3 must be installed to run this test");
    assert!(
        import.status.success(),
        "{module} is not importable: install it with `python3 -m pip install {package}` \
         (scripts/test.sh does). {}",
        String::from_utf8_lossy(&import.stderr)
    );
}
