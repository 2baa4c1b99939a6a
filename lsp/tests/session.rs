//! The server in process, over an in-memory connection, with the compiler's analysis as
//! `edgec lsp` gives it: the initialization options, edits sent as ranges, and a check that
//! panics. (The end-to-end test `e2e/tests/lsp.rs` drives the real `edgec lsp` over its pipes.)

use std::thread::JoinHandle;
use std::time::Duration;

use edge_compiler::{analyze_with, Options};
use edge_dsl::{Diagnostic, SourceFile};
use edge_lsp::{serve, Check, Error, Files};
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(10);

fn check(source: &SourceFile, files: Files) -> Vec<Diagnostic> {
    let options = Options {
        files_at_start: files == Files::AtStart,
    };
    analyze_with(source, options).diagnostics
}

/// A server checking with `check` on its own thread, initialized with `options`, and the
/// editor's end.
fn start_with(check: Check, options: Value) -> (Connection, JoinHandle<Result<(), Error>>) {
    let (server, editor) = Connection::memory();
    let running = std::thread::spawn(move || serve(&server, check));
    let params = json!({ "capabilities": {}, "initializationOptions": options });
    editor
        .sender
        .send(Request::new(RequestId::from(1), "initialize".to_owned(), params).into())
        .expect("sent");
    match editor.receiver.recv_timeout(PATIENCE) {
        Ok(Message::Response(response)) => {
            assert!(response.response_result.is_ok(), "{response:?}")
        }
        other => panic!("no initialize response: {other:?}"),
    }
    notify(&editor, "initialized", json!({}));
    (editor, running)
}

fn start(options: Value) -> (Connection, JoinHandle<Result<(), Error>>) {
    start_with(check, options)
}

fn notify(editor: &Connection, method: &str, params: Value) {
    editor
        .sender
        .send(Notification::new(method.to_owned(), params).into())
        .expect("sent");
}

/// The diagnostics the server publishes next: code and line of each.
fn published(editor: &Connection) -> Vec<(String, u64)> {
    match editor.receiver.recv_timeout(PATIENCE) {
        Ok(Message::Notification(notification)) => notification.params["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let code = d["code"].as_str().unwrap_or_default().to_owned();
                (
                    code,
                    d["range"]["start"]["line"].as_u64().unwrap_or_default(),
                )
            })
            .collect(),
        other => panic!("no diagnostics: {other:?}"),
    }
}

fn stop(editor: Connection, running: JoinHandle<Result<(), Error>>) {
    editor
        .sender
        .send(Request::new(RequestId::from(2), "shutdown".to_owned(), Value::Null).into())
        .expect("sent");
    notify(&editor, "exit", Value::Null);
    let served = running.join().expect("the server does not panic");
    assert!(served.is_ok(), "{served:?}");
}

const SERVING: &str = "listener web {\n    bind 127.0.0.1:8080\n}\n\nroute files {\n    on web\n    serve dir \"nowhere/public\"\n}\n";

#[test]
fn files_at_start_leaves_absent_files_to_the_proxy() {
    let dir = std::env::temp_dir().join("edge-lsp-session");
    let uri = format!("file://{}", dir.join("site.edge").display());
    let open = json!({ "textDocument": { "uri": uri, "languageId": "edge", "version": 1, "text": SERVING } });

    let (editor, running) = start(json!({ "filesAtStart": true }));
    notify(&editor, "textDocument/didOpen", open.clone());
    assert_eq!(published(&editor), []);
    stop(editor, running);

    let (editor, running) = start(json!({}));
    notify(&editor, "textDocument/didOpen", open);
    assert_eq!(published(&editor), [("unusable-file".to_owned(), 6)]);
    stop(editor, running);
}

#[test]
fn edits_sent_as_ranges_are_applied_in_order() {
    let uri = "untitled:ranges";
    let (editor, running) = start(Value::Null);
    let text = "listener web {\n    bind 127.0.0.1:8080\n}\n";
    notify(
        &editor,
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "edge", "version": 1, "text": text } }),
    );
    assert_eq!(
        published(&editor),
        [("listener-without-routes".to_owned(), 0)]
    );
    let range = |line: u32, from: u32, to: u32| json!({ "start": { "line": line, "character": from }, "end": { "line": line, "character": to } });
    notify(
        &editor,
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [
                { "range": range(3, 0, 0), "text": "route r {\n    on web\n    respond 200\n}\n" },
                { "range": range(1, 4, 8), "text": "bnd" },
            ],
        }),
    );
    assert_eq!(published(&editor), [("unknown-directive".to_owned(), 1)]);
    stop(editor, running);
}

#[test]
fn a_check_that_panics_is_reported_and_the_server_goes_on() {
    fn panicking(_: &SourceFile, _: Files) -> Vec<Diagnostic> {
        panic!("a bug of the compiler's");
    }
    let (editor, running) = start_with(panicking, Value::Null);
    let text = "pool users {\n    server 127.0.0.1:9000\n}\n";
    notify(
        &editor,
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "untitled:bug", "languageId": "edge", "version": 1, "text": text } }),
    );
    match editor.receiver.recv_timeout(PATIENCE) {
        Ok(Message::Notification(shown)) => assert_eq!(shown.method, "window/showMessage"),
        other => panic!("no message: {other:?}"),
    }
    let hover = json!({ "textDocument": { "uri": "untitled:bug" }, "position": { "line": 1, "character": 5 } });
    editor
        .sender
        .send(Request::new(RequestId::from(7), "textDocument/hover".to_owned(), hover).into())
        .expect("sent");
    match editor.receiver.recv_timeout(PATIENCE) {
        Ok(Message::Response(response)) => {
            let shown = response.response_result.expect("a hover");
            assert!(shown["contents"]["value"]
                .as_str()
                .is_some_and(|v| v.contains("server")));
        }
        other => panic!("no hover: {other:?}"),
    }
    stop(editor, running);
}
