//! `edgec watch` as a person uses it: it serves a config; a saved edit is checked, built and
//! swapped in through the upgrade hand-off on the same port, with what changed and each
//! step's time printed; an edit with an error is reported and swaps nothing, the last good
//! config serving on. (The hand-off itself losing no request under load is `upgrade.rs`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use edge_e2e::edgec_command;
use edge_testkit::HttpClient;

/// The longest a build and swap may take (a cold cache builds the generated crate's
/// dependencies first).
const SWAP_LIMIT: Duration = Duration::from_secs(600);

fn config(answer: &str) -> String {
    format!(
        "listener web {{
    bind 127.0.0.1:0
}}

route hello {{
    on web
    path = /hello
    respond 200 \"{answer}\\n\"
}}
"
    )
}

/// `edgec watch` and its proxies in a process group of their own, stopped together (as
/// Ctrl-C in a terminal stops them) when dropped.
struct Watching {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Watching {
    fn start(file: &std::path::Path) -> Watching {
        use std::os::unix::process::CommandExt;
        let mut child = edgec_command(&["watch", file.to_str().unwrap()])
            .env("EDGE_WORKERS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("edgec watch starts");
        let lines = |stream: Box<dyn std::io::Read + Send>, echo: bool| {
            let (send, receive) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("{line}");
                    }
                    let _ = send.send(line);
                }
            });
            receive
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()), false);
        let stderr = lines(Box::new(child.stderr.take().unwrap()), true);
        Watching {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line on standard output (the proxies' start-up lines pass through).
    fn next_stdout(&self) -> String {
        self.stdout
            .recv_timeout(SWAP_LIMIT)
            .expect("a line on standard output in time")
    }

    /// `edgec`'s lines on standard error until one starts with `edgec: ` and `last`.
    fn said_until(&self, last: &str) -> Vec<String> {
        let deadline = Instant::now() + SWAP_LIMIT;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{last}` in time; said: {said:#?}"));
            let done = line.starts_with(&format!("edgec: {last}"));
            said.push(line);
            if done {
                return said;
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

#[test]
fn a_saved_edit_is_served_on_the_same_port_and_a_broken_one_swaps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("watched.edge");
    std::fs::write(&file, config("one")).unwrap();
    let watching = Watching::start(&file);
    watching.said_until("serving");
    let line = watching.next_stdout();
    let addr = line
        .strip_prefix("listening web http://")
        .unwrap_or_else(|| panic!("a start-up line: {line}"));
    let url = format!("http://{addr}/hello");
    let client = HttpClient::new();
    assert_eq!(client.get(&url).body, "one\n");

    // A good edit: built, handed the socket, and said what changed and how long it took.
    std::fs::write(&file, config("two")).unwrap();
    let said = watching.said_until("serving");
    assert!(
        said.iter()
            .any(|line| line == "edgec: routes: changed web/hello"),
        "{said:#?}"
    );
    let timing = said.last().unwrap();
    for step in ["after the save", "check", "build", "hand-over"] {
        assert!(timing.contains(step), "{timing}");
    }
    assert_eq!(
        watching.next_stdout(),
        line,
        "the new proxy serves on the same port"
    );
    assert_eq!(HttpClient::new().get(&url).body, "two\n");

    // A broken edit: its diagnostic, and the proxy serving on with the last good config.
    std::fs::write(&file, config("three").replace("respond 200", "respond 999")).unwrap();
    let said = watching.said_until("not swapped");
    assert!(
        said.iter().any(|line| line.contains("watched.edge:")),
        "a diagnostic with its place: {said:#?}"
    );
    assert_eq!(HttpClient::new().get(&url).body, "two\n");

    // Put right, it is served again.
    std::fs::write(&file, config("four")).unwrap();
    watching.said_until("serving");
    assert_eq!(HttpClient::new().get(&url).body, "four\n");
}
