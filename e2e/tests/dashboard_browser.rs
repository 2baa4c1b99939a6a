//! The admin page in a real browser: headless Chromium, driven through chromedriver
//! (WebDriver), opens the page of a proxy with two pools while requests flow. Checks that once
//! its script has run the page shows every route and every server, that a killed backend turns
//! `down` on the page (table and picture) within seconds, and that a click on a server's drain
//! button takes it out: of the requests sent next, the backends count none at the drained
//! server and all at the other; a weight typed into a server's field is in force and shown
//! beside the config's. The browser's console must stay free of errors, and with
//! JavaScript off the page still shows the same routes and servers. The screenshot is kept in
//! `TARGET/e2e-artifacts/dashboard.png`.
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install chromium
//! chromium-driver`; `.ci/run` installs them). Everything talks over 127.0.0.1.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use edge_e2e::{artifact, build_and_start};
use edge_testkit::{free_port, EchoBackends, HttpClient, PATIENCE};
use fantoccini::{error::CmdError, wd::WebDriverCompatibleCommand, Locator};
use serde_json::{json, Value};

/// The browser window, and so the screenshot.
const WINDOW: (u32, u32) = (1280, 1000);

/// The longest any one exchange with the browser may take.
const BROWSER_PATIENCE: Duration = Duration::from_secs(30);

/// Two pools: `shop` of two servers, `search` of one; health checked often, so that a killed
/// backend is down at once.
fn config(shop: [SocketAddr; 2], search: SocketAddr) -> String {
    let health = "    health http {
        path \"/healthz\"
        interval 200ms
        timeout 100ms
        rise 1
        fall 1
    }
";
    format!(
        "listener web {{
    bind 127.0.0.1:0
}}

admin {{
    bind 127.0.0.1:0
}}

pool shop {{
    server {}
    server {}
{health}}}

pool search {{
    server {search}
{health}}}

route store {{
    on web
    path /store
    forward shop
}}

route find {{
    on web
    path /find
    forward search
}}

route ping {{
    on web
    path = /ping
    respond 200 \"pong\\n\"
}}
",
        shop[0], shop[1]
    )
}

#[test]
fn the_admin_page_shows_routes_and_servers_follows_a_dead_backend_and_drains_a_server() {
    let driver = Chromedriver::start();
    let mut backends = EchoBackends::start(3);
    let [first, second, search] = [backends.addrs[0], backends.addrs[1], backends.addrs[2]];
    let (_dir, proxy) = build_and_start("dashboard", &config([first, second], search), 1);
    let base = format!("http://{}", proxy.addr("web"));
    let admin = format!("http://{}", proxy.admin.expect("an admin line"));

    // Requests keep coming to every route, at a rate that changes every second, so that the
    // sparklines have something to draw.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, base) = (Arc::clone(&stop), base.clone());
        thread::spawn(move || {
            let client = HttpClient::new();
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                for path in ["/store/cart", "/find/q", "/ping"] {
                    client.get(&format!("{base}{path}"));
                }
                let pause = 10 + 20 * (started.elapsed().as_secs() % 4);
                thread::sleep(Duration::from_millis(pause));
            }
        })
    };

    // A few samples of it first, for the sparklines to draw more than a point.
    let client = HttpClient::new();
    let deadline = Instant::now() + PATIENCE;
    while samples(&client, &admin, "store") < 4 {
        assert!(
            Instant::now() < deadline,
            "the sampler never took 4 samples"
        );
        thread::sleep(Duration::from_millis(200));
    }

    let browser = driver.open(true);
    browser.goto(&format!("{admin}/"));
    assert!(browser.script_ran(), "the page's script ran");
    // Only the script draws sparklines and steering buttons.
    browser.wait_for(
        "the script's first refresh",
        Locator::Css("#route-rows svg.sparkline"),
    );
    browser.wait_for(
        "the steering buttons",
        Locator::Css("#server-rows td.steer button"),
    );
    assert_eq!(browser.routes(), ["find", "ping", "store"]);
    let pools = [("shop", first), ("shop", second), ("search", search)];
    assert_eq!(browser.servers(), servers(&pools, ["up", "up", "up"]));
    // The picture draws each server, coloured by the script.
    for (pool, server) in pools {
        let node = format!("g.server.state-up[data-pool='{pool}'][data-address='{server}']");
        browser.wait_for(
            "each server coloured up in the picture",
            Locator::Css(&node),
        );
    }

    // A killed backend turns down on the page, in the table and in the picture.
    backends.kill_one(2);
    let killed = Instant::now();
    browser.wait_for(
        "the killed backend's row marked down",
        Locator::XPath(&server_row(search, "[@class='down']")),
    );
    browser.wait_for(
        "the killed backend drawn down",
        Locator::Css(&format!("g.server.state-down[data-address='{search}']")),
    );
    println!(
        "the killed backend showed as down after {:?}",
        killed.elapsed()
    );
    // Its health change, as the admin side sampled it, and every server's last minutes.
    browser.wait_for(
        "the killed backend's health change",
        Locator::XPath(&server_row(
            search,
            "[td[@class='health'][starts-with(., 'down at ')]]",
        )),
    );
    browser.wait_for(
        "a sparkline per server",
        Locator::XPath(&server_row(first, "[td/*[local-name()='svg']]")),
    );
    // A server taking requests shows the mean time its answers took.
    browser.wait_for(
        "a server's mean answer time",
        Locator::XPath(&server_row(
            first,
            "[td[@class='response'][contains(., ' ms')]]",
        )),
    );
    // The listener's row: its connections and requests, and its last minutes.
    browser.wait_for(
        "the listener's figures",
        Locator::Css("#listener-rows tr[data-listener='web'] svg.sparkline"),
    );
    let listener = browser.rows("listener-rows");
    assert_eq!(listener.len(), 1);
    assert_eq!(listener[0][0], "web");
    assert!(
        listener[0][4].parse::<u64>().unwrap() > 0,
        "the listener counted requests: {listener:?}"
    );

    // A click on the first server's drain button drains it.
    browser.click(&format!(
        "{}//button[@data-state='drain']",
        server_row(first, "")
    ));
    browser.wait_for(
        "the drained server's row marked drain",
        Locator::XPath(&server_row(first, "[@class='drain']")),
    );
    stop.store(true, Ordering::Relaxed);
    load.join().expect("the load ran");
    let counted = |index| backends.requests_at(index, "/store/cart");
    let before = [counted(0), counted(1)];
    assert!(
        before[0] > 0 && before[1] > 0,
        "both servers had traffic before the drain: {before:?}"
    );
    let sent = 40;
    for _ in 0..sent {
        let answer = client.get(&format!("{base}/store/cart"));
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(
        [counted(0), counted(1)],
        [before[0], before[1] + sent],
        "the drained server got none of the next requests, the other all"
    );
    // The page catches up with them.
    let total = (before[1] + sent).to_string();
    browser.wait_for(
        "the other server's requests counted on the page",
        Locator::XPath(&server_row(second, &format!("[td[6]='{total}']"))),
    );

    // A weight typed into the second server's field (Enter sends it) is in force, and the
    // page shows it beside the config's.
    browser.type_into(&format!("{}//input", server_row(second, "")), "3\u{E007}");
    browser.wait_for(
        "the second server's new weight on the page",
        Locator::XPath(&server_row(second, "[td[4]='3 (config 1)']")),
    );
    let status: Value = serde_json::from_str(&client.get(&format!("{admin}/status")).body).unwrap();
    let weighed = status["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .flat_map(|pool| pool["servers"].as_array().expect("servers"))
        .find(|server| server["server"] == second.to_string())
        .expect("the second server");
    assert_eq!(
        (&weighed["weight"], &weighed["configured_weight"]),
        (&json!(3), &json!(1))
    );

    let screenshot = browser.screenshot();
    let path = artifact("dashboard.png");
    std::fs::write(&path, &screenshot).expect("the screenshot is saved");
    println!("screenshot: {}", path.display());

    let errors: Vec<Value> = browser
        .console()
        .into_iter()
        .filter(|entry| entry["level"] != "INFO" && entry["level"] != "DEBUG")
        .collect();
    assert!(errors.is_empty(), "the console has errors: {errors:#?}");
    browser.close();

    // Without JavaScript the page shows the same routes and servers, as they were when it
    // was served.
    let plain = driver.open(false);
    plain.goto(&format!("{admin}/"));
    assert!(!plain.script_ran(), "JavaScript is off");
    assert_eq!(plain.routes(), ["find", "ping", "store"]);
    assert_eq!(plain.servers(), servers(&pools, ["drain", "up", "down"]));
    plain.close();
}

/// How many samples of route `route` the admin listener's `/stats` holds.
fn samples(client: &HttpClient, admin: &str, route: &str) -> usize {
    let stats: Value = serde_json::from_str(&client.get(&format!("{admin}/stats")).body).unwrap();
    let routes = stats["routes"].as_array().expect("routes");
    let route = routes
        .iter()
        .find(|r| r["route"] == route)
        .expect("the route");
    route["history"]["requests"]
        .as_array()
        .expect("a history")
        .len()
}

/// The servers' table rows expected for `pools` (pool, server) in these `states`, sorted.
fn servers(pools: &[(&str, SocketAddr); 3], states: [&str; 3]) -> Vec<[String; 3]> {
    let mut rows: Vec<[String; 3]> = pools
        .iter()
        .zip(states)
        .map(|((pool, server), state)| [pool.to_string(), server.to_string(), state.to_owned()])
        .collect();
    rows.sort_unstable();
    rows
}

/// The XPath of the servers' table row of `server`, with the further `condition`.
fn server_row(server: SocketAddr, condition: &str) -> String {
    format!("//tbody[@id='server-rows']/tr[td[2]='{server}']{condition}")
}

/// chromedriver on a free loopback port, in a process group of its own, which is killed
/// (chromedriver and every browser it started) when this is dropped, a panic included.
struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    /// The browsers' profiles, removed once they are killed.
    profiles: tempfile::TempDir,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let missing = |program: &str| {
            format!(
                "`{program}` is not on PATH: this test drives headless Chromium through \
                 chromedriver. Install both (Debian: `apt-get install chromium \
                 chromium-driver`; .ci/run does)"
            )
        };
        let chromedriver =
            on_path("chromedriver").unwrap_or_else(|| panic!("{}", missing("chromedriver")));
        let chromium = on_path("chromium")
            .or_else(|| on_path("chromium-browser"))
            .unwrap_or_else(|| panic!("{}", missing("chromium")));
        let port = free_port();
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("{} starts: {e}", chromedriver.display()))
        };
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver never listened on port {port}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new headless browser, with JavaScript on or off, logging its console.
    fn open(&self, javascript: bool) -> Browser {
        let profile = self
            .profiles
            .path()
            .join(if javascript { "script" } else { "plain" });
        let mut options = json!({
            "binary": self.chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--no-first-run",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = async {
            let mut builder = fantoccini::ClientBuilder::new(connector);
            let connecting = builder.capabilities(capabilities).connect(&self.url);
            tokio::time::timeout(BROWSER_PATIENCE, connecting).await
        };
        let client = runtime
            .block_on(session)
            .expect("Chromium starts within 30 s")
            .unwrap_or_else(|e| panic!("a browser session: {e}"));
        Browser { runtime, client }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A program's path, from `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// One browser session, its every exchange bounded by [`BROWSER_PATIENCE`].
struct Browser {
    runtime: tokio::runtime::Runtime,
    client: fantoccini::Client,
}

impl Browser {
    /// The outcome of `exchange`, or a panic naming `what` if it failed or took too long.
    fn run<T>(&self, what: &str, exchange: impl Future<Output = Result<T, CmdError>>) -> T {
        self.bounded(what, exchange)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// The outcome of `exchange`, or a panic naming `what` if it took too long.
    fn bounded<T>(&self, what: &str, exchange: impl Future<Output = T>) -> T {
        let bounded = async { tokio::time::timeout(BROWSER_PATIENCE, exchange).await };
        self.runtime
            .block_on(bounded)
            .unwrap_or_else(|_| panic!("{what}: no answer from the browser within 30 s"))
    }

    fn goto(&self, url: &str) {
        self.run("loading the page", self.client.goto(url));
    }

    /// Waits (at most [`PATIENCE`]) until an element matches `locator`.
    fn wait_for(&self, what: &str, locator: Locator<'_>) {
        let found = self.client.wait().at_most(PATIENCE).for_element(locator);
        self.run(what, found);
    }

    /// Whether the page's script has run: it adds the paragraph for refused changes as it
    /// starts, before the page's load ends.
    fn script_ran(&self) -> bool {
        let script = "return document.querySelector('#servers p.notice') !== null;";
        let ran = self.run(
            "looking for the script's mark",
            self.client.execute(script, vec![]),
        );
        ran.as_bool().expect("a boolean")
    }

    /// The routes' table: each route's name, sorted.
    fn routes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rows("route-rows")
            .into_iter()
            .map(|mut row| row.swap_remove(1))
            .collect();
        names.sort_unstable();
        names
    }

    /// The servers' table: each server's pool, address and state, sorted.
    fn servers(&self) -> Vec<[String; 3]> {
        let mut servers: Vec<[String; 3]> = self
            .rows("server-rows")
            .into_iter()
            .map(|row| [row[0].clone(), row[1].clone(), row[2].clone()])
            .collect();
        servers.sort_unstable();
        servers
    }

    /// The cells' text of each row of the table body `id`, read in one go (the script
    /// replaces the rows every 2 s).
    fn rows(&self, id: &str) -> Vec<Vec<String>> {
        let script = "return [...document.getElementById(arguments[0]).rows]\
                      .map((row) => [...row.cells].map((cell) => cell.textContent));";
        let rows = self.run(id, self.client.execute(script, vec![id.into()]));
        serde_json::from_value(rows).expect("rows of cells' text")
    }

    /// Clicks, as a user does, the element the XPath `selector` finds; again should the
    /// script have replaced it between finding and clicking.
    fn click(&self, selector: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let clicked = self.bounded(selector, async {
                self.client
                    .find(Locator::XPath(selector))
                    .await?
                    .click()
                    .await
            });
            match clicked {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {}
                Err(e) => panic!("clicking {selector}: {e}"),
            }
        }
    }

    /// Types `text` into the element the XPath `selector` finds, as a user does; again should
    /// the script have replaced it before it had the focus.
    fn type_into(&self, selector: &str, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let typed = self.bounded(selector, async {
                self.client
                    .find(Locator::XPath(selector))
                    .await?
                    .send_keys(text)
                    .await
            });
            match typed {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {}
                Err(e) => panic!("typing into {selector}: {e}"),
            }
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        self.run("the screenshot", self.client.screenshot())
    }

    /// What the page wrote to the browser's console (and the browser about the page: failed
    /// loads, refused by the content security policy) since the last call.
    fn console(&self) -> Vec<Value> {
        let log = self.run("the console log", self.client.issue_cmd(ConsoleLog));
        serde_json::from_value(log).expect("a list of the console's entries")
    }

    fn close(self) {
        let client = self.client.clone();
        self.run("closing the browser", client.close());
    }
}

/// chromedriver's command for the browser's console log, which WebDriver does not define.
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}
