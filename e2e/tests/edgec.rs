//! `edgec` as a user runs it: `check`, `fmt`, `expand`, `new`, and `build` of a real proxy binary that
//! is then driven over loopback with a real HTTP client against real backends.

use std::path::Path;

use bytes::Bytes;
use edge_e2e::{cache_dir, edgec, stderr, ProxyProcess};
use edge_testkit::{EchoBackends, HttpClient};
use http_body_util::Full;

/// The tour's config, with the backends' and the listener's ports filled in.
fn tour_config(listen_port: u16, servers: &[std::net::SocketAddr]) -> String {
    format!(
        "listener web {{
    bind 127.0.0.1:{listen_port}
}}

pool app {{
    server {}
    server {}
}}

route hello {{
    on web
    path /hello
    respond 200 \"hello from edge\\n\"
}}

route all {{
    on web
    forward app
}}
",
        servers[0], servers[1]
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn fmt_rewrites_a_file_checks_a_folder_and_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "listener web { bind 127.0.0.1:8080 }  # public\n\n\n\nroute r {\n  on web;  respond 204\n}\n";
    let tidy = "listener web {\n    bind 127.0.0.1:8080\n} # public\n\nroute r {\n    on web\n    respond 204\n}\n";
    let file = write(dir.path(), "messy.edge", messy);
    let output = edgec(&["fmt", "--check", &dir.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("messy.edge:1: not formatted"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        messy,
        "--check writes nothing"
    );

    let output = edgec(&["fmt", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), tidy);
    assert!(edgec(&["fmt", "--check", &file]).status.success());
    assert!(
        edgec(&["check", &file]).status.success(),
        "still a valid config"
    );

    let mut child = std::process::Command::new(edge_e2e::edgec_binary())
        .args(["fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), messy.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), tidy);

    let broken = write(dir.path(), "broken.edge", "listener web {\n");
    let output = edgec(&["fmt", &broken]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("broken.edge:2:1"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "listener web {\n"
    );
}

#[test]
fn check_accepts_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let servers = [
        "127.0.0.1:18081".parse().unwrap(),
        "127.0.0.1:18082".parse().unwrap(),
    ];
    let file = write(dir.path(), "ok.edge", &tour_config(18080, &servers));
    let output = edgec(&["check", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ok (1 listener, 1 pool, 2 routes, 0 policies)"),
        "{stdout}"
    );
}

#[test]
fn check_points_at_a_misspelt_pool_and_suggests_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let servers = [
        "127.0.0.1:18081".parse().unwrap(),
        "127.0.0.1:18082".parse().unwrap(),
    ];
    let config = tour_config(18080, &servers).replace("forward app", "forward ap");
    let file = write(dir.path(), "ok.edge", &config);
    let output = edgec(&["check", &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.contains(&format!("{file}:18:13")), "{stderr}");
    assert!(
        stderr.contains("a pool with a similar name exists: `app`"),
        "{stderr}"
    );
}

#[test]
fn check_reports_json_lines_denies_warnings_on_request_and_reads_several_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let servers = [
        "127.0.0.1:18081".parse().unwrap(),
        "127.0.0.1:18082".parse().unwrap(),
    ];
    let good = write(dir.path(), "good.edge", &tour_config(18080, &servers));
    let broken = write(
        dir.path(),
        "broken.edge",
        &tour_config(18080, &servers).replace("forward app", "forward ap"),
    );
    let unused = write(
        dir.path(),
        "unused.edge",
        &format!(
            "{}\npool spare {{\n    server 127.0.0.1:1\n}}\n",
            tour_config(18080, &servers)
        ),
    );
    let output = edgec(&["check", "--format", "json", &good, &broken, &unused]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let error = &lines[0];
    assert_eq!(error["severity"], "error");
    assert_eq!(error["file"], broken.as_str());
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(18), Some(13))
    );
    assert_eq!(error["end"]["column"].as_u64(), Some(15));
    assert_eq!(error["code"], "unknown-name");
    assert!(
        error["message"].as_str().unwrap().contains("`ap`"),
        "{error}"
    );
    assert_eq!(error["help"][0], "a pool with a similar name exists: `app`");
    let warning = &lines[1];
    assert_eq!(
        (&warning["severity"], &warning["code"], &warning["file"]),
        (
            &"warning".into(),
            &"unused-pool".into(),
            &unused.as_str().into()
        )
    );

    // The good file passes, even denying warnings; a warning fails a file then.
    assert!(edgec(&["check", "--deny-warnings", &good]).status.success());
    assert!(edgec(&["check", &unused]).status.success());
    let output = edgec(&["check", "--deny-warnings", &unused]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("pool `spare` is never used"),
        "{}",
        stderr(&output)
    );

    let mut child = std::process::Command::new(edge_e2e::edgec_binary())
        .args(["check", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let config = tour_config(18080, &servers).replace("forward app", "forward ap");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), config.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("<stdin>:18:13"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn graph_draws_a_stack_across_its_files_and_refuses_a_broken_config() {
    let stack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/stack");
    let files: Vec<String> = ["l4.edge", "gateway.edge", "pods.edge"]
        .iter()
        .map(|name| stack.join(name).display().to_string())
        .collect();
    let mut args = vec!["graph"];
    args.extend(files.iter().map(String::as_str));
    let output = edgec(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let svg = String::from_utf8_lossy(&output.stdout);
    assert!(svg.starts_with("<?xml"), "{svg}");
    for id in [
        "id=\"listener-l4-edge\"",
        "id=\"listener-gateway-api\"",
        "id=\"listener-pods-users_1\"",
        "data-from=\"server-l4-gateways-127.0.0.1_9411\" data-to=\"listener-gateway-api\"",
    ] {
        assert!(svg.contains(id), "{id} missing");
    }
    args.extend(["--format", "dot"]);
    let dot = String::from_utf8_lossy(&edgec(&args).stdout).into_owned();
    assert!(dot.starts_with("digraph"), "{dot}");

    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.edge", "listener web {\n");
    let output = edgec(&["graph", &broken]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).contains("error[syntax]"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn explain_says_what_a_request_meets_and_refuses_what_it_cannot_place() {
    let gateway = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/api_gateway.edge")
        .display()
        .to_string();
    let url = "http://api.example.com:8380/users/42";
    let output = edgec(&["explain", &gateway, "GET", url]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("listener  api (127.0.0.1:8380)"), "{text}");
    assert!(text.contains("policy    auth (jwt) answers 401"), "{text}");
    let output = edgec(&[
        "explain",
        &gateway,
        "get",
        url,
        "-H",
        "Authorization: Bearer t",
        "--from",
        "192.0.2.7",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["route"], "users");
    assert_eq!(json["end"]["pool"], "users_service");
    assert_eq!(json["request"]["client"], "192.0.2.7");

    let output = edgec(&["explain", &gateway, "GET", "/users"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("4 HTTP listeners"),
        "{}",
        stderr(&output)
    );
    let output = edgec(&["explain", &gateway, "GET", "http://x/a//b", "--on", "api"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("repeated slashes"),
        "{}",
        stderr(&output)
    );
    let output = edgec(&["explain", &gateway, "BREW", "/", "--on", "api"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn check_reports_an_unreadable_file() {
    let output = edgec(&["check", "/nonexistent/x.edge"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read /nonexistent/x.edge"));
}

#[test]
fn expand_prints_code_without_dynamic_dispatch_or_maps() {
    let dir = tempfile::tempdir().unwrap();
    let servers = [
        "127.0.0.1:18081".parse().unwrap(),
        "127.0.0.1:18082".parse().unwrap(),
    ];
    let file = write(dir.path(), "ok.edge", &tour_config(18080, &servers));
    let output = edgec(&["expand", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    let code = String::from_utf8_lossy(&output.stdout);
    assert!(
        code.contains("impl ::edge_runtime::Gateway for Edge"),
        "{code}"
    );
    for banned in ["dyn ", "HashMap", "BTreeMap"] {
        assert!(!code.contains(banned), "generated code contains `{banned}`");
    }
}

#[test]
fn new_scaffolds_a_crate_with_a_valid_starter_config() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("myproxy");
    let output = edgec(&["new", crate_dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    for file in [
        "Cargo.toml",
        "build.rs",
        "src/main.rs",
        "proxy.edge",
        ".gitignore",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} is missing");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"myproxy\""), "{manifest}");
    let check = edgec(&["check", crate_dir.join("proxy.edge").to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    let again = edgec(&["new", crate_dir.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "new must not overwrite a crate"
    );
}

fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `edgec new` inside the checkout takes the Edge crates by a relative path, and the crate
/// builds a proxy that runs; `--edge-git` and `--edge-version` write manifests cargo reads
/// (the git one resolved from this repository at its current commit).
#[test]
fn new_crates_take_edge_from_a_path_a_git_repository_or_a_registry() {
    // Inside the checkout (cargo's target folder), so a relative path exists.
    let within = tempfile::tempdir_in(cache_dir().parent().unwrap()).unwrap();
    let crate_dir = within.path().join("kept");
    let output = edgec(&["new", crate_dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("edge-runtime = { path = \"../../"),
        "{manifest}"
    );
    let built = cargo()
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(cache_dir().join("target"))
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "4")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let binary = cache_dir().join("target/release/kept");
    let version = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&version.stdout);
    assert!(line.contains("(proxy.edge sha256:"), "{line}");

    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(&repository)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let url = format!("file://{}", repository.canonicalize().unwrap().display());
    let elsewhere = tempfile::tempdir().unwrap();
    let git_crate = elsewhere.path().join("from-git");
    let output = edgec(&[
        "new",
        git_crate.to_str().unwrap(),
        "--edge-git",
        &url,
        "--edge-rev",
        &head,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = std::fs::read_to_string(git_crate.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(
            "edge-runtime = {{ git = \"{url}\", rev = \"{head}\" }}"
        )),
        "{manifest}"
    );
    let metadata = cargo()
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(git_crate.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(metadata.status.success(), "{}", stderr(&metadata));
    let resolved = String::from_utf8_lossy(&metadata.stdout);
    assert!(
        resolved.contains(&format!("git+{url}?rev={head}")),
        "edge-runtime comes from git"
    );

    let registry_crate = elsewhere.path().join("from-registry");
    let output = edgec(&[
        "new",
        registry_crate.to_str().unwrap(),
        "--edge-version",
        "0.1",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = std::fs::read_to_string(registry_crate.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("edge-runtime = { version = \"0.1\" }"),
        "{manifest}"
    );
    let read = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(registry_crate.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", stderr(&read));

    let both = edgec(&["new", "x", "--edge-git", &url, "--edge-version", "0.1"]);
    assert_eq!(both.status.code(), Some(2), "one source at a time");
}

/// The tour, end to end: `edgec build` gives a binary that answers `/hello` itself and
/// proxies everything else round robin, keeping what a backend needs and dropping what it
/// must not see; with every backend gone the client gets a 502, and SIGTERM stops it cleanly.
#[test]
fn build_gives_a_proxy_that_answers_and_forwards() {
    let mut backends = EchoBackends::start(2);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ok.edge", &tour_config(0, &backends.addrs));
    let binary = dir.path().join("proxy");
    let output = edgec(&["build", &file, "-o", binary.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));

    let mut proxy = ProxyProcess::start(&binary, 1);
    let base = format!("http://{}", proxy.addr("web"));
    let client = HttpClient::new();

    let hello = client.get(&format!("{base}/hello"));
    assert_eq!(
        (hello.status, hello.body.as_str()),
        (200, "hello from edge\n")
    );

    let answer = client.send(
        hyper::Request::get(format!("{base}/items/7?color=red&size=2"))
            .header("host", "shop.example.com")
            .header("x-forwarded-for", "203.0.113.9")
            .header("connection", "keep-alive, x-private")
            .header("x-private", "secret")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.seen("target"), ["/items/7?color=red&size=2"]);
    assert_eq!(answer.seen("header host"), ["shop.example.com"]);
    // The client's own list is not believed: nobody is a trusted proxy here.
    assert_eq!(answer.seen("header x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(answer.seen("header x-real-ip"), ["127.0.0.1"]);
    assert!(
        answer.seen("header x-private").is_empty(),
        "{}",
        answer.body
    );

    let picked: Vec<String> = (0..4)
        .map(|_| client.get(&format!("{base}/rr")).seen("backend").concat())
        .collect();
    assert_eq!(picked.iter().filter(|b| *b == "1").count(), 2, "{picked:?}");
    assert_eq!(picked.iter().filter(|b| *b == "2").count(), 2, "{picked:?}");

    let upload = vec![b'x'; 5 * 1024 * 1024];
    let answer = client.send(
        hyper::Request::post(format!("{base}/upload"))
            .body(Full::new(Bytes::from(upload)))
            .unwrap(),
    );
    assert_eq!(answer.seen("body-bytes"), ["5242880"], "{}", answer.body);

    backends.kill();
    let down = client.get(&format!("{base}/anything"));
    assert!(
        down.status == 502 || down.status == 503,
        "{} {}",
        down.status,
        down.body
    );
    assert!(
        !down.body.contains("127.0.0.1"),
        "error bodies hide upstream addresses"
    );

    let status = proxy.terminate().expect("the proxy exits after SIGTERM");
    assert!(status.success(), "{status}");
}

/// Two configs of the same file name in different folders (`prod/edge.edge` and
/// `staging/edge.edge`) share edgec's cache; each build gives the proxy of its own config,
/// also when it is rebuilt after the other with nothing changed.
#[test]
fn same_named_configs_each_build_their_own_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let config = |port: u16| {
        format!(
            "listener web {{\n    bind 127.0.0.1:{port}\n}}\n\nroute hello {{\n    on web\n    respond 200 \"hello\\n\"\n}}\n"
        )
    };
    let build = |folder: &str, port: u16| {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        let file = write(&dir.path().join(folder), "edge.edge", &config(port));
        let binary = dir.path().join(folder).join("proxy");
        let output = edgec(&["build", &file, "-o", binary.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
        binary
    };
    let listens_on = |binary: &Path| {
        let proxy = ProxyProcess::start(binary, 1);
        proxy.addr("web").port()
    };
    let prod = build("prod", 9461);
    let staging = build("staging", 9462);
    assert_eq!(listens_on(&staging), 9462);
    // Up to date: cargo builds nothing, and the binary must still be prod's.
    let prod_again = build("prod", 9461);
    assert_eq!(listens_on(&prod_again), 9461);
    assert_eq!(listens_on(&prod), 9461);
}

/// A rebuild follows the config's content, not its files' times: a config saved unchanged (or
/// checked out again) builds nothing, while an edit of a file it includes, or a new file in an
/// included folder, rebuilds the proxy with it.
#[test]
fn builds_follow_the_content_of_the_config_and_its_includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("routes")).unwrap();
    let file = write(
        dir.path(),
        "content.edge",
        "include \"routes/*.edge\"\n\nlistener web {\n    bind 127.0.0.1:0\n}\n",
    );
    let hello = |text: &str| {
        format!("route hello {{\n    on web\n    path = /\n    respond 200 \"{text}\\n\"\n}}\n")
    };
    write(&dir.path().join("routes"), "hello.edge", &hello("one"));
    let binary = dir.path().join("proxy");
    // Whether cargo compiled the generated crate again (its build script reruns only then).
    let build = || {
        let output = edgec(&["build", &file, "-o", binary.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output).contains("Compiling content-")
    };
    let answers = |path: &str| {
        let proxy = ProxyProcess::start(&binary, 1);
        let answer = HttpClient::new().get(&format!("http://{}{path}", proxy.addr("web")));
        (answer.status, answer.body)
    };
    let rewrite = |path: &Path, text: &str| {
        std::fs::write(path, text).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    };

    build();
    assert_eq!(answers("/"), (200, "one\n".to_owned()));

    let config = std::fs::read_to_string(&file).unwrap();
    rewrite(Path::new(&file), &config);
    rewrite(&dir.path().join("routes/hello.edge"), &hello("one"));
    assert!(!build(), "saved unchanged, yet rebuilt");

    rewrite(&dir.path().join("routes/hello.edge"), &hello("two"));
    assert!(build(), "an included file was edited, yet not rebuilt");
    assert_eq!(answers("/"), (200, "two\n".to_owned()));

    let other = "route other {\n    on web\n    path = /other\n    respond 200 \"other\\n\"\n}\n";
    write(&dir.path().join("routes"), "other.edge", other);
    assert!(build(), "a new file in an included folder, yet not rebuilt");
    assert_eq!(answers("/other"), (200, "other\n".to_owned()));
}
