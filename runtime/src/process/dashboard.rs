//! The admin listener's page (`GET /`): one self-contained HTML document, nothing fetched from
//! elsewhere. It shows the config the proxy was built from (its name, digest and build time),
//! its picture (the SVG `edgec graph` draws, generated with the proxy), and every pool's
//! servers with their state (up, down, backup, or drain and maintenance as an operator set
//! them), weight (and the config's, when an operator set another), requests in flight,
//! requests and errors, and every route's answers by class and refusals so far, rendered here
//! so that the page reads without JavaScript. A small script (`dashboard.js`, served beside it
//! with its style sheet, both embedded in the binary) then asks `/status` and `/stats`
//! (`figures`) every two seconds: it refreshes the servers' table (with each server's mean
//! answer time, last minutes and last health change), colours each server of the picture by
//! its state, fills the listeners', routes' and caches' tables with rates, latency percentiles
//! and sparklines, and gives each server's row buttons that drain a server, put it in
//! maintenance or make it ready again, and a field that gives it another weight (`steer.rs`).
//! A content security policy lets the page load nothing but those two files and talk to
//! nothing but its own listener, and no other site may frame it.
//!
//! Rendering reads the same counters a `/status` scrape does: nothing on the request path waits
//! for it.

use std::{fmt::Write as _, sync::atomic::Ordering};

use crate::{
    clock,
    observe::metrics::{sum, CODES},
    observe::{BuildInfo, Observer},
    policy::CacheFigures,
    upstream::backend::{ErrorKind, Steering},
    upstream::pools::Pools,
};

/// The page's style sheet, served at `/dashboard.css`.
pub(crate) const STYLE: &str = include_str!("dashboard.css");
/// The page's script, served at `/dashboard.js`.
pub(crate) const SCRIPT: &str = include_str!("dashboard.js");
/// What the page may load and talk to: its own two files and its own listener.
pub(crate) const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// The page, for a process observed by `observer` (its build, `None` without a site, and its
/// listeners' and routes' counters) serving `pools`, with the caches of `caches`.
pub(crate) fn page(observer: &Observer, pools: &Pools, caches: &[CacheFigures]) -> String {
    let build = observer.build.as_ref();
    let mut out = String::with_capacity(16 * 1024);
    let title = build.map_or("edge", |build| build.config_name);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · edge</title>\n<link rel=\"stylesheet\" href=\"/dashboard.css\">\n\
         </head>\n<body>\n<header>\n\
         <h1>{}</h1>\n",
        escape(title),
        escape(title),
    );
    match build {
        Some(build) => {
            let digest = &build.config_sha256[..12.min(build.config_sha256.len())];
            let built = build
                .built_at
                .map_or_else(String::new, |at| format!(" · built {}", escape(at)));
            let _ = writeln!(
                out,
                "<p class=\"build\">edge {} · sha256:{}{built}</p>",
                BuildInfo::EDGE_VERSION,
                escape(digest),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"build\">edge {}</p>",
                BuildInfo::EDGE_VERSION
            );
        }
    }
    out.push_str(
        "<p class=\"refresh\" id=\"refreshed\">Figures as of this page's load; \
         with JavaScript they refresh every 2 s.</p>\n</header>\n",
    );
    let topology = build.map_or("", |build| build.topology);
    if !topology.is_empty() {
        out.push_str("<section id=\"topology\">\n<h2>Topology</h2>\n<div class=\"picture\">\n");
        out.push_str(svg_body(topology));
        out.push_str("</div>\n</section>\n");
    }
    listeners(&mut out, observer);
    routes(&mut out, observer);
    servers(&mut out, pools);
    cache_table(&mut out, caches);
    out.push_str("<script src=\"/dashboard.js\"></script>\n</body>\n</html>\n");
    out
}

/// The table of every listener's connections and requests so far; the script adds its rates
/// and a sparkline of its requests from `/stats`.
fn listeners(out: &mut String, observer: &Observer) {
    out.push_str(
        "<section id=\"listeners\">\n<h2>Listeners</h2>\n<table>\n<thead><tr><th>listener</th>\
         <th>connections open</th><th>connections</th><th>connections /s</th><th>requests</th>\
         <th>requests /s</th><th>last minutes</th></tr></thead>\n<tbody id=\"listener-rows\">\n",
    );
    for (id, name) in observer.listeners.iter().enumerate() {
        let rows = || observer.metrics.listener_rows(id);
        let accepted = sum(rows(), |r| &r.accepted);
        let open = accepted.saturating_sub(sum(rows(), |r| &r.closed));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{open}</td><td>{accepted}</td><td></td><td></td><td></td>\
             <td></td></tr>",
            escape(name),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The table of every cache policy's hit ratio and size, when there is a cache; the script
/// adds the last interval's ratio and a sparkline of its hits from `/stats`.
fn cache_table(out: &mut String, caches: &[CacheFigures]) {
    if caches.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"caches\">\n<h2>Caches</h2>\n<table>\n<thead><tr><th>policy</th>\
         <th>hit ratio</th><th>last 2 s</th><th>entries</th><th>bytes</th><th>last minutes</th>\
         </tr></thead>\n<tbody id=\"cache-rows\">\n",
    );
    for cache in caches {
        let [lookups, hits] = cache.lookups_and_hits();
        let ratio = if lookups == 0 {
            String::new()
        } else {
            format!("{:.1} %", 100.0 * hits as f64 / lookups as f64)
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{ratio}</td><td></td><td>{}</td><td>{}</td><td></td></tr>",
            escape(cache.name),
            cache.entries,
            cache.bytes,
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The table of every route's answers so far; the script adds each route's rate, latency
/// percentiles and a sparkline of its last minutes from `/stats`.
fn routes(out: &mut String, observer: &Observer) {
    out.push_str(
        "<section id=\"routes\">\n<h2>Routes</h2>\n<table>\n<thead><tr><th>listener</th>\
         <th>route</th><th>requests</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>\
         <th>refused (401 403 429)</th><th>rate /s</th><th>p50</th><th>p95</th><th>p99</th>\
         <th>last minutes</th></tr></thead>\n<tbody id=\"route-rows\">\n",
    );
    for (id, route) in observer.routes.iter().enumerate() {
        let rows = || observer.metrics.route_rows(id);
        let class = |i: usize| sum(rows(), |r| &r.classes[i]);
        let code = |status: u16| {
            let at = CODES
                .iter()
                .position(|&c| c == status)
                .expect("a counted code");
            sum(rows(), |r| &r.codes[at])
        };
        let requests: u64 = (0..5).map(class).sum();
        let _ = writeln!(
            out,
            "<tr data-route=\"{}\"><td>{}</td><td>{}</td><td>{requests}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{} {} {}</td><td></td><td></td><td></td>\
             <td></td><td></td></tr>",
            escape(route.name),
            escape(route.listener),
            escape(route.name),
            class(1),
            class(2),
            class(3),
            class(4),
            code(401),
            code(403),
            code(429),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The table of every pool's servers.
fn servers(out: &mut String, pools: &Pools) {
    out.push_str(
        "<section id=\"servers\">\n<h2>Servers</h2>\n<table>\n<thead><tr><th>pool</th>\
         <th>server</th><th>state</th><th>weight</th><th>in flight</th><th>requests</th>\
         <th>errors</th><th title=\"the mean time to an answer's head over the last 2 s\">response</th>\
         <th>last error</th><th>last minutes</th><th>health changed</th><th></th>\
         </tr></thead>\n<tbody id=\"server-rows\">\n",
    );
    let now = clock::now();
    for (pool, backends) in pools.rosters() {
        for backend in backends {
            let state = match (backend.steering(), backend.is_up(now), backend.spec.backup) {
                (Steering::Ready, false, _) => "down",
                (Steering::Ready, true, true) => "backup",
                (Steering::Ready, true, false) => "up",
                (steered, _, _) => steered.name(),
            };
            let errors: u64 = ErrorKind::ALL
                .iter()
                .map(|&kind| backend.stats.errors[kind as usize].load(Ordering::Relaxed))
                .sum();
            let last_error = backend
                .stats
                .last_error()
                .map_or_else(String::new, |(_, error)| escape(&error.to_string()));
            let weight = match backend.live_weight() {
                Some(live) => format!(
                    "{live} <span class=\"configured\">(config {})</span>",
                    backend.spec.weight
                ),
                None => backend.spec.weight.to_string(),
            };
            let server = backend.spec.upstream.to_string();
            let shown = match &backend.host {
                Some(host) => format!("{} ({})", escape(host), escape(&server)),
                None => escape(&server),
            };
            let _ = writeln!(
                out,
                "<tr class=\"{state}\"><td>{}</td><td>{shown}</td><td class=\"state\">{state}</td>\
                 <td class=\"weight\">{weight}</td><td>{}</td><td>{}</td><td>{errors}</td><td></td>\
                 <td>{last_error}</td><td></td><td></td><td></td></tr>",
                escape(pool),
                backend.active(),
                backend.stats.requests.load(Ordering::Relaxed),
            );
        }
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// An SVG document without its XML declaration, to place inside HTML.
fn svg_body(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => "",
    }
}

/// Text as HTML character data or a quoted attribute value.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: BuildInfo = BuildInfo {
        config_name: "shop<1>.edge",
        config_sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        built_at: None,
        root: "/",
        config_text: "",
        topology: "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><g id=\"route-shop-all\" class=\"route\"/></svg>\n",
    };

    #[test]
    fn the_page_holds_the_build_its_picture_and_its_script_and_escapes_names() {
        let observer = Observer {
            build: Some(BUILD),
            ..Observer::quiet_with_routes(&[crate::observe::RouteInfo {
                name: "api<v1>",
                listener: "web",
            }])
        };
        observer.request(0, Some(0), 429, std::time::Duration::from_millis(1));
        let page = page(&observer, crate::Process::new().pools(), &[]);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<h1>shop&lt;1&gt;.edge</h1>"), "{page}");
        assert!(page.contains("sha256:0123456789ab"));
        assert!(page.contains("<svg xmlns"), "the picture, inline");
        assert!(!page.contains("<?xml"), "no XML declaration inside HTML");
        assert!(page.contains("<tbody id=\"server-rows\">"));
        let route = "<tr data-route=\"api&lt;v1&gt;\"><td>web</td><td>api&lt;v1&gt;</td>\
                     <td>1</td><td>0</td><td>0</td><td>1</td><td>0</td><td>0 0 1</td>";
        assert!(page.contains(route), "{page}");
        assert!(
            page.contains("<script src=\"/dashboard.js\">"),
            "the refresh script"
        );
        assert!(SCRIPT.contains("ask(\"/status\")") && SCRIPT.contains("ask(\"/stats\")"));
        for elsewhere in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!page.contains(elsewhere), "nothing fetched from elsewhere");
        }
    }

    #[test]
    fn a_server_given_another_weight_shows_the_configs_too() {
        use crate::{Pool, PoolSpec, RoundRobin, ServerSpec, Upstream};
        static SERVERS: [ServerSpec; 2] = [
            ServerSpec::new(Upstream::Name("a.internal:80")),
            ServerSpec::new(Upstream::Name("b.internal:80")),
        ];
        static APP: PoolSpec = PoolSpec::new("app", &SERVERS);
        let process = crate::Process::new();
        let _pool = Pool::new(&APP, RoundRobin::default(), process.pools());
        let named = process.pools().servers("app", "a.internal:80").unwrap();
        named.reweigh(3, "127.0.0.1");
        let page = page(&Observer::quiet(), process.pools(), &[]);
        let reweighed = "<td>a.internal:80</td><td class=\"state\">up</td><td class=\"weight\">3 \
                         <span class=\"configured\">(config 1)</span></td>";
        assert!(page.contains(reweighed), "{page}");
        let configured =
            "<td>b.internal:80</td><td class=\"state\">up</td><td class=\"weight\">1</td>";
        assert!(page.contains(configured), "{page}");
        assert!(
            SCRIPT.contains("{ weight: weight }"),
            "the page's weight field"
        );
    }

    #[test]
    fn a_process_without_a_site_gets_a_page_without_a_picture() {
        let page = page(&Observer::quiet(), crate::Process::new().pools(), &[]);
        assert!(page.contains("<h1>edge</h1>"));
        assert!(!page.contains("id=\"topology\""));
    }
}
