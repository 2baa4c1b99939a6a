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

/// Every block label the generated code declares is broken to: an unused label is a warning
/// in every proxy built. Routes by path prefix alone, the shape that once left `'path:` unused,
/// and every example.
#[test]
fn generated_labels_are_broken_to() {
    let dir = tempfile::tempdir().unwrap();
    let prefixes = dir.path().join("prefixes.edge");
    let mut config = String::from(
        "listener api {\n    bind 127.0.0.1:8080\n}\n\npool app {\n    server 10.0.0.1:80\n}\n",
    );
    for route in 0..20 {
        config.push_str(&format!(
            "\nroute r{route} {{\n    on api\n    path /api/r{route}\n    forward app\n}}\n"
        ));
    }
    std::fs::write(&prefixes, config).unwrap();
    for path in examples().into_iter().chain([prefixes]) {
        let code = expand(&path);
        for label in ["'path", "'host"] {
            assert_eq!(
                code.contains(&format!("{label}: {{")),
                code.contains(&format!("break {label}")),
                "{}: {label}",
                path.display()
            );
        }
    }
}

/// Every function of the generated code reads each parameter it names, and names `_x` those
/// it does not, for every example and the stacked chain's configs: an unused parameter is a
/// warning in every proxy built (the pods of `examples/stack/pods.edge` only answer, and once
/// took a `req` they never read).
#[test]
fn generated_functions_read_the_parameters_they_name() {
    use quote::ToTokens;
    let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/stack");
    let stack = ["l4.edge", "gateway.edge", "pods.edge"].map(|name| stack.join(name));
    for path in examples().into_iter().chain(stack) {
        let code = expand(&path);
        let file = syn::parse_file(&code).expect("generated code parses");
        let functions = file.items.iter().flat_map(|item| match item {
            syn::Item::Fn(function) => vec![(&function.sig, function.block.to_token_stream())],
            syn::Item::Impl(block) => block
                .items
                .iter()
                .filter_map(|item| match item {
                    syn::ImplItem::Fn(function) => {
                        Some((&function.sig, function.block.to_token_stream()))
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        });
        for (signature, body) in functions {
            for input in &signature.inputs {
                let syn::FnArg::Typed(typed) = input else {
                    continue;
                };
                let syn::Pat::Ident(name) = &*typed.pat else {
                    continue;
                };
                let name = name.ident.to_string();
                assert_eq!(
                    mentions(&body, &name),
                    !name.starts_with('_'),
                    "{}: `{}` and its parameter `{name}`",
                    path.display(),
                    signature.ident
                );
            }
        }
    }
}

/// Whether `tokens` name the identifier `name`.
fn mentions(tokens: &proc_macro2::TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == name,
        proc_macro2::TokenTree::Group(group) => mentions(&group.stream(), name),
        _ => false,
    })
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

#[test]
fn stores_are_generated_for_the_rate_limits_that_use_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/redis.pass"), "s3cret\n").unwrap();
    let config = dir.path().join("gateway.edge");
    std::fs::write(
        &config,
        r#"listener web {
    bind 127.0.0.1:8080
}

store shared = redis {
    url "redis://127.0.0.1:6379/0"
    password_env REDIS_PASSWORD
}

store vault = redis {
    url "rediss://edge@redis.internal"
    password_file "secrets/redis.pass"
    timeout 20ms
    prefix "edge:prod:"
}

store spare = redis {
    url "redis://127.0.0.1"
}

store fleet = redis_cluster {
    nodes "redis://10.0.0.1:7000" "redis://10.0.0.2:7000/0" "redis://[::1]:7000"
}

store spare_fleet = redis_cluster {
    nodes "rediss://10.0.0.9:7000"
}

store watched = redis_sentinel {
    sentinels "redis://10.0.0.1" "redis://10.0.0.2:26380"
    master "mymaster"
    database 3
}

policy limit = rate_limit {
    rate 20/s
    store shared
}

policy strict = rate_limit {
    rate 5/s
    store vault
    on_store_error deny
}

policy fleet_limit = rate_limit {
    rate 50/s
    store fleet
    on_store_error allow
}

policy watched_limit = rate_limit {
    rate 50/s
    store watched
}

route hello {
    on web
    use limit, strict, fleet_limit, watched_limit
    respond 200 "hi"
}
"#,
    )
    .unwrap();
    // Checked and generated without a Redis server; `spare` is only a warning.
    let code = expand(&config);
    let shared =
        "static STORE_SHARED: ::edge_runtime::StoreSpec = ::edge_runtime::StoreSpec {\n    \
                  name: \"shared\",\n    \
                  servers: ::edge_runtime::StoreServers::Single(\"redis://127.0.0.1:6379/0\"),\n    \
                  password: ::edge_runtime::StorePassword::Env(\"REDIS_PASSWORD\"),\n    \
                  timeout: ::edge_runtime::StoreSpec::TIMEOUT,\n    \
                  prefix: \"edge:gateway:\",\n};";
    assert!(code.contains(shared), "{code}");
    let vault = "static STORE_VAULT: ::edge_runtime::StoreSpec = ::edge_runtime::StoreSpec {\n    \
                 name: \"vault\",\n    \
                 servers: ::edge_runtime::StoreServers::Single(\"rediss://edge@redis.internal\"),\n    \
                 password: ::edge_runtime::StorePassword::File(\"secrets/redis.pass\"),\n    \
                 timeout: ::std::time::Duration::from_millis(20),\n    \
                 prefix: \"edge:prod:\",\n};";
    assert!(code.contains(vault), "{code}");
    // A cluster by its seed nodes, as written; the rest as for one server.
    let fleet = "static STORE_FLEET: ::edge_runtime::StoreSpec = ::edge_runtime::StoreSpec {\n    \
                 name: \"fleet\",\n    \
                 servers: ::edge_runtime::StoreServers::Cluster(\n        \
                 &[\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000/0\", \"redis://[::1]:7000\"],\n    \
                 ),\n    \
                 password: ::edge_runtime::StorePassword::None,\n    \
                 timeout: ::edge_runtime::StoreSpec::TIMEOUT,\n    \
                 prefix: \"edge:gateway:\",\n};";
    assert!(code.contains(fleet), "{code}");
    // A primary found through Sentinel: the Sentinels with their port, its name and database.
    let watched =
        "static STORE_WATCHED: ::edge_runtime::StoreSpec = ::edge_runtime::StoreSpec {\n    \
                   name: \"watched\",\n    \
                   servers: ::edge_runtime::StoreServers::Sentinel {\n        \
                   sentinels: &[\"redis://10.0.0.1:26379\", \"redis://10.0.0.2:26380\"],\n        \
                   master: \"mymaster\",\n        \
                   database: 3u32,\n    \
                   },\n";
    assert!(code.contains(watched), "{code}");
    assert!(
        !code.contains("STORE_SPARE"),
        "an unused store is dead code: {code}"
    );
    assert!(
        !code.contains("s3cret"),
        "the password stays out of the code"
    );
    for (store, on_error) in [
        ("STORE_SHARED", "Local"),
        ("STORE_VAULT", "Deny"),
        ("STORE_FLEET", "Allow"),
    ] {
        let fields = format!(
            "store: Some(&{store}),\n    on_store_error: ::edge_runtime::OnStoreError::{on_error},"
        );
        assert!(code.contains(&fields), "{code}");
    }
    // The limits start their stores from the process, which no pool needs here.
    assert!(code.contains("process: &::edge_runtime::Process"), "{code}");
    assert!(!code.contains("_process"), "{code}");
    assert!(
        code.contains("::edge_runtime::RateLimit::load(\n                &POLICY_STRICT,\n                \"strict\",\n                process.stores(),\n            )?"),
        "{code}"
    );
}

#[test]
fn exported_spans_wrap_each_policy_of_a_chain_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("traced.edge");
    let routes = "listener web {\n    bind 127.0.0.1:8080\n}\n\n\
                  pool app {\n    server 127.0.0.1:9000\n}\n\n\
                  policy open = cors {\n    origins \"https://example.com\"\n}\n\n\
                  policy marked = headers {\n    response {\n        set x-edge \"1\"\n    }\n}\n\n\
                  route both {\n    on web\n    path /both\n    use open, marked\n    forward app\n}\n\n\
                  route one {\n    on web\n    use marked\n    forward app\n}\n";
    std::fs::write(&config, routes).unwrap();
    let untraced = expand(&config);
    assert!(!untraced.contains("Traced"), "{untraced}");
    assert!(untraced.contains("tracing: None,"), "{untraced}");
    std::fs::write(
        &config,
        format!("{routes}\ntracing {{\n    otlp \"http://127.0.0.1:4318\"\n    sample 2.5%\n}}\n"),
    )
    .unwrap();
    let traced = expand(&config);
    for wrapped in [
        "::edge_runtime::Traced::new(&self.policy_open, \"open\", \"cors\")",
        "::edge_runtime::Traced::new(&self.policy_marked, \"marked\", \"headers\")",
    ] {
        assert!(traced.contains(wrapped), "{wrapped} in {traced}");
    }
    let spec = "tracing: Some(::edge_runtime::TracingSpec {\n        \
                otlp: \"http://127.0.0.1:4318/v1/traces\",\n        \
                sample: 250u32,\n        \
                service: \"edge\",\n    }),";
    assert!(traced.contains(spec), "{traced}");
}

#[test]
fn kept_authorisation_answers_are_bounded_by_the_size_written_or_4_mib() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("checked.edge");
    let policy = |name: &str, cache: &str| {
        format!(
            "policy {name} = ext_auth {{\n    pool auth\n    path \"/check\"\n    {cache}\n}}\n\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "listener web {{\n    bind 127.0.0.1:8080\n}}\n\n\
             pool auth {{\n    server 127.0.0.1:9000\n}}\n\n{}{}\
             route sized {{\n    on web\n    path /a\n    use sized\n    respond 200 \"a\"\n}}\n\n\
             route plain {{\n    on web\n    path /b\n    use plain\n    respond 200 \"b\"\n}}\n",
            policy("sized", "cache 30s max_size 1MiB"),
            policy("plain", "cache 30s by client_ip"),
        ),
    )
    .unwrap();
    let code = expand(&config);
    let sized = "ttl: ::std::time::Duration::from_secs(30),\n        \
                 key: ::edge_runtime::AnswerKey::Request,\n        \
                 max_size: 1048576,";
    assert!(code.contains(sized), "{code}");
    let plain = "key: ::edge_runtime::AnswerKey::ClientIp,\n        max_size: 4194304,";
    assert!(code.contains(plain), "{code}");
}
