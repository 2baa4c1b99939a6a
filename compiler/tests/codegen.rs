//! Snapshot tests of the code generated for every example, exactly as `edgec expand` prints
//! it, plus the properties the generated code must always have: deterministic output and no
//! dynamic dispatch or maps.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `edgec expand` prints for an example, with the examples folder written as
/// `$EXAMPLES`: generated code names that folder on one line (`config_dir!`) and in its
/// header, so the snapshots do not depend on where the repository is checked out.
fn expand(path: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_edgec"))
        .arg("expand")
        .arg(path)
        .output()
        .expect("edgec runs");
    assert!(
        output.status.success(),
        "{} has errors:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let code = String::from_utf8(output.stdout).expect("generated code is UTF-8");
    let dir = path.parent().unwrap().display().to_string();
    code.replace(&dir, "$EXAMPLES")
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = std::path::absolute(dir).unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "edge"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "the examples went missing");
    paths
}

#[test]
fn generated_code_matches_snapshots() {
    for path in examples() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(stem, expand(&path));
    }
}

#[test]
fn generated_code_is_deterministic() {
    for path in examples() {
        assert_eq!(expand(&path), expand(&path), "{}", path.display());
    }
}

#[test]
fn generated_code_has_no_dynamic_dispatch_maps_or_lint_exceptions() {
    for path in examples() {
        let code = expand(&path);
        for banned in ["dyn ", "HashMap", "BTreeMap", "Box<", "#[allow"] {
            assert!(
                !code.contains(banned),
                "{} generates `{banned}`",
                path.display()
            );
        }
    }
}

#[test]
fn each_distinct_policy_chain_is_written_once() {
    let code = expand(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/api_gateway.edge"));
    let chain = "(&self.policy_browser, (&self.policy_auth, &self.policy_limit))";
    assert_eq!(code.matches(chain).count(), 1, "{code}");
    assert_eq!(
        code.matches("self.browser_auth_limit()").count(),
        2,
        "{code}"
    );
}

#[test]
fn written_process_and_listener_settings_are_generated_over_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stopping.edge");
    std::fs::write(
        &config,
        "listener behind_lb {\n    bind 127.0.0.1:8080\n    accept_proxy on\n    \
         trusted_proxies 10.0.0.0/8\n}\n\n\
         shutdown {\n    drain_delay 5s\n}\n\n\
         route hello {\n    on behind_lb\n    respond 200 \"hi\"\n}\n",
    )
    .unwrap();
    let code = expand(&config);
    assert!(code.contains("accept_proxy: true,"), "{code}");
    let trusted = "::std::net::Ipv4Addr::new(10, 0, 0, 0),\n                        ),\n                        \
                   prefix: 8,";
    assert!(code.contains("trusted_proxies: &["), "{code}");
    assert!(code.contains(trusted), "{code}");
    let shutdown = "shutdown: ::edge_runtime::ShutdownSpec {\n        \
                    drain_delay: ::std::time::Duration::from_secs(5),\n        \
                    ..::edge_runtime::ShutdownSpec::DEFAULT\n    },";
    assert!(code.contains(shutdown), "{code}");
}
