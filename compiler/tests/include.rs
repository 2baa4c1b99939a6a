//! Configs of several files (`include`) and shared settings (`defaults`): names are global
//! across files, diagnostics point into the file they are about, a file is included once, and
//! defaults fill in what an item does not say.

use std::path::Path;

use edge_compiler::model::Model;
use edge_compiler::{analyze, Analysis, SourceFile};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn analyze_file(path: &Path) -> Analysis {
    let text = std::fs::read_to_string(path).unwrap();
    analyze(&SourceFile::new(path.display().to_string(), text))
}

fn model(analysis: &Analysis) -> &Model {
    analysis
        .model
        .as_ref()
        .unwrap_or_else(|| panic!("{}", analysis.sources.render(&analysis.diagnostics)))
}

const ROOT: &str = "listener web {
    bind 127.0.0.1:8080
}

defaults pool {
    retry 1
    health http {
        path \"/healthz\"
    }
}

include \"services/*.edge\"

route fallback {
    on web
    respond 404
}
";

#[test]
fn included_files_share_names_and_defaults_fill_in_what_items_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gateway.edge", ROOT);
    write(
        dir.path(),
        "services/b_orders.edge",
        "pool orders {\n    server 127.0.0.1:9102\n    server 127.0.0.1:9103\n    server 127.0.0.1:9104\n    retry 2\n}\n\nroute orders {\n    on web\n    path /orders\n    forward orders\n}\n",
    );
    write(
        dir.path(),
        "services/a_users.edge",
        "pool users {\n    server 127.0.0.1:9101\n}\n\nroute users {\n    on web\n    path /users\n    forward users\n}\n",
    );
    write(dir.path(), "services/notes.txt", "not a config");
    let analysis = analyze_file(&dir.path().join("gateway.edge"));
    let model = model(&analysis);
    let routes: Vec<&str> = model.listeners[0]
        .routes
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        routes,
        ["users", "orders", "fallback"],
        "included in name order, in place"
    );
    let users = &model.pools[0];
    assert_eq!(users.name, "users");
    assert_eq!(
        users.retry.as_ref().map(|r| r.attempts),
        Some(1),
        "from the defaults"
    );
    assert!(users.health.is_some(), "from the defaults");
    let orders = &model.pools[1];
    assert_eq!(
        orders.retry.as_ref().map(|r| r.attempts),
        Some(2),
        "its own"
    );
    let names: Vec<&str> = analysis.sources.files().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert!(names[1].ends_with("services/a_users.edge"), "{names:?}");
    let text = analysis.sources.text();
    assert!(
        text.contains("# included: ") && text.contains("pool orders"),
        "{text}"
    );
    assert!(analysis.generate().unwrap().contains("b_orders.edge"));
}

#[test]
fn diagnostics_point_into_the_file_they_are_about() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gateway.edge", ROOT);
    write(
        dir.path(),
        "services/users.edge",
        "route users {\n    on web\n    forward user\n}\n\nroute fallback {\n    on web\n    respond 200\n}\n",
    );
    let analysis = analyze_file(&dir.path().join("gateway.edge"));
    let rendered = analysis.sources.render(&analysis.diagnostics);
    assert!(analysis.model.is_none());
    assert!(rendered.contains("services/users.edge:3:13"), "{rendered}");
    assert!(rendered.contains("no pool named `user`"), "{rendered}");
    // Defined in the included file, then again in the root: both places shown.
    assert!(
        rendered.contains("the route `fallback` is defined twice"),
        "{rendered}"
    );
    assert!(rendered.contains("gateway.edge:14:7"), "{rendered}");
    assert!(rendered.contains("services/users.edge:6:7"), "{rendered}");
}

#[test]
fn a_file_is_included_once_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "main.edge",
        "listener web {\n    bind 127.0.0.1:8080\n}\n\ninclude \"more.edge\"\ninclude \"absent.edge\"\ninclude \"none/*.edge\"\n",
    );
    write(
        dir.path(),
        "more.edge",
        "include \"main.edge\"\ninclude \"bad.edge\"\n",
    );
    write(dir.path(), "bad.edge", "route r {\n");
    let analysis = analyze_file(&dir.path().join("main.edge"));
    let rendered = analysis.sources.render(&analysis.diagnostics);
    let codes: Vec<&str> = analysis.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        ["duplicate-include", "syntax", "unusable-file"],
        "{rendered}"
    );
    assert!(rendered.contains("more.edge:1:9"), "{rendered}");
    assert!(rendered.contains("bad.edge:2:1"), "{rendered}");
    assert!(rendered.contains("main.edge:6:9"), "{rendered}");
}

#[test]
fn defaults_are_for_listeners_pools_and_routes_once_each() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "main.edge",
        "defaults pools {\n    retry 1\n}\n\ndefaults route {\n    timeout 5s\n}\n\ndefaults route {\n    timeout 6s\n}\n",
    );
    let analysis = analyze_file(&dir.path().join("main.edge"));
    let rendered = analysis.sources.render(&analysis.diagnostics);
    assert!(
        rendered.contains("error[unknown-choice]: no defaults for `pools`"),
        "{rendered}"
    );
    assert!(
        rendered.contains("a kind with a similar name exists: `pool`"),
        "{rendered}"
    );
    assert!(
        rendered.contains("`defaults route` is given twice"),
        "{rendered}"
    );
    // Without a file to read from, `include` cannot be followed.
    let text = SourceFile::new("<stdin>", "include \"x.edge\"\n");
    let diagnostics = edge_dsl::parse(&text).unwrap_err();
    assert_eq!(diagnostics[0].code, "unusable-file");
}
