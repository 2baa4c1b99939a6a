//! `edgec lsp` over its standard input and output, as an editor drives it: JSON-RPC messages
//! framed by `Content-Length`, every read bounded so that a server that hangs fails the test.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The longest the server may take to say anything the test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

const BROKEN: &str = "\
listener web {
    bind 127.0.0.1:8080
}

pool users {
    server 127.0.0.1:9000

}

route api {
    on web
    forward usres
}
";

/// An `edgec lsp` child and the messages it has sent.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications read while waiting for a response.
    notifications: VecDeque<Value>,
    next_id: i64,
}

impl Server {
    /// Starts `edgec lsp` in the root folder, away from the configs it is sent, and
    /// initializes it; the capabilities it announces.
    fn start() -> (Server, Value) {
        let mut child = Command::new(edge_e2e::edgec_binary())
            .arg("lsp")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("edgec lsp starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            while let Some(message) = read_message(&mut stdout) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            stdin,
            messages,
            notifications: VecDeque::new(),
            next_id: 0,
        };
        let initialized = server.request(
            "initialize",
            json!({ "processId": null, "rootUri": null, "capabilities": {} }),
        );
        server.notify("initialized", json!({}));
        (server, initialized["result"]["capabilities"].clone())
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("written");
        self.stdin.flush().expect("flushed");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response (result or error), keeping the
    /// notifications that come first.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.next();
            if message["id"] == json!(id) {
                return message;
            }
            self.notifications.push_back(message);
        }
    }

    fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The next message, within [`PATIENCE`].
    fn next(&mut self) -> Value {
        self.messages
            .recv_timeout(PATIENCE)
            .expect("the server answers in time")
    }

    /// The diagnostics published next for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let message = match self.notifications.pop_front() {
                Some(message) => message,
                None => self
                    .messages
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .expect("diagnostics are published in time"),
            };
            if message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri
            {
                return message["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "edge", "version": 1, "text": text } }),
        );
    }

    /// Waits for the server to exit, within [`PATIENCE`].
    fn exit_status(mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child is there") {
                return status;
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!("edgec lsp did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    /// A server a test leaves running is stopped (one that exited already is not there).
    fn drop(&mut self) {
        self.child.kill().ok();
    }
}

/// One message framed by `Content-Length`, or `None` at the end of the output.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn position(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": position(line, character) })
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn an_editor_session_from_initialize_to_exit() {
    let dir = tempfile::tempdir().expect("a folder");
    let uri = file_uri(&dir.path().join("gateway.edge"));
    let (mut server, capabilities) = Server::start();
    assert_eq!(capabilities["textDocumentSync"], 1, "{capabilities}");
    for provider in ["definitionProvider", "referencesProvider", "hoverProvider"] {
        assert_eq!(capabilities[provider], true, "{capabilities}");
    }
    assert!(
        capabilities["completionProvider"].is_object(),
        "{capabilities}"
    );

    server.open(&uri, BROKEN);
    let diagnostics = server.diagnostics(&uri);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let unknown = &diagnostics[0];
    assert_eq!(unknown["code"], "unknown-name");
    assert_eq!(unknown["severity"], 1);
    assert_eq!(
        unknown["range"],
        json!({ "start": position(11, 12), "end": position(11, 17) })
    );
    let message = unknown["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("no pool named `usres`: unknown pool\nhelp: "),
        "{message}"
    );

    let fixed = BROKEN.replace("usres", "users");
    server.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "text": fixed }],
        }),
    );
    assert_eq!(server.diagnostics(&uri), Vec::<Value>::new());

    let definition = server.result("textDocument/definition", at(&uri, 11, 14));
    assert_eq!(
        definition,
        json!([{ "uri": uri, "range": { "start": position(4, 5), "end": position(4, 10) } }])
    );

    let references = server.result(
        "textDocument/references",
        json!({
            "textDocument": { "uri": uri },
            "position": position(4, 6),
            "context": { "includeDeclaration": true },
        }),
    );
    let lines: Vec<&Value> = references
        .as_array()
        .map(|found| found.iter().map(|r| &r["range"]["start"]["line"]).collect())
        .unwrap_or_default();
    assert_eq!(lines, [&json!(4), &json!(11)]);

    let hover = server.result("textDocument/hover", at(&uri, 1, 6));
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        shown.starts_with("**`bind`** in a listener\n\nThe address and port"),
        "{hover}"
    );
    let hover = server.result("textDocument/hover", at(&uri, 11, 14));
    assert_eq!(
        hover["contents"]["value"],
        "`pool users`: round_robin, 1 server\n\ndeclared on line 5"
    );

    let completion = server.result("textDocument/completion", at(&uri, 6, 4));
    let labels: Vec<&str> = completion
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"server") && labels.contains(&"balance"),
        "{labels:?}"
    );
    assert!(!labels.contains(&"bind"), "{labels:?}");

    server.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(server.diagnostics(&uri), Vec::<Value>::new());

    assert_eq!(server.result("shutdown", Value::Null), Value::Null);
    server.notify("exit", Value::Null);
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn files_are_found_from_the_config_s_folder() {
    let config = "listener web {\n    bind 127.0.0.1:8080\n}\n\nroute files {\n    on web\n    serve dir \"public\"\n}\n";
    let with = tempfile::tempdir().expect("a folder");
    std::fs::create_dir(with.path().join("public")).expect("created");
    let without = tempfile::tempdir().expect("a folder");
    let (mut server, _) = Server::start();

    let uri = file_uri(&with.path().join("site.edge"));
    server.open(&uri, config);
    assert_eq!(server.diagnostics(&uri), Vec::<Value>::new());

    let uri = file_uri(&without.path().join("site.edge"));
    server.open(&uri, config);
    let diagnostics = server.diagnostics(&uri);
    assert_eq!(diagnostics[0]["code"], "unusable-file", "{diagnostics:?}");
    let looked_at = format!(
        "looked for it at {}",
        without.path().join("public").display()
    );
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .is_some_and(|message| message.ends_with(&looked_at)),
        "{diagnostics:?}"
    );
}

#[test]
fn malformed_requests_get_errors_and_the_server_goes_on() {
    let (mut server, _) = Server::start();
    let refused = server.request("textDocument/hover", json!("not the parameters"));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let refused = server.request("textDocument/hover", json!({ "position": 3 }));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let refused = server.request("edge/unknown", json!({}));
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
    let unopened = server.result("textDocument/hover", at("file:///nowhere.edge", 0, 0));
    assert_eq!(unopened, Value::Null);
    server.notify("textDocument/didOpen", json!({ "textDocument": 42 }));
    server.open(
        "untitled:Untitled-1",
        "listener web {\n    bind 127.0.0.1:8080\n}\n",
    );
    let diagnostics = server.diagnostics("untitled:Untitled-1");
    assert_eq!(
        diagnostics[0]["code"], "listener-without-routes",
        "{diagnostics:?}"
    );
    server.notify("exit", Value::Null);
    assert_eq!(
        server.exit_status().code(),
        Some(1),
        "exit without shutdown"
    );
}
