//! The `.edge` front end never panics on what a user (or a fuzzer) writes, and every error it
//! reports points into the file: arbitrary text, and soups of the language's own words.

use edge_dsl::{parse, SourceFile};
use proptest::prelude::*;

/// Words and punctuation of the language, so that generated files get past the first token.
const WORDS: &[&str] = &[
    "listener",
    "pool",
    "route",
    "policy",
    "test",
    "admin",
    "access_log",
    "{",
    "}",
    "\n",
    " ",
    "bind",
    "127.0.0.1:8080",
    "[::1]:0",
    "mode",
    "tcp",
    "server",
    "10.0.0.1:80",
    "on",
    "web",
    "path",
    "/a",
    "= /b",
    "host",
    "\"*.example.com\"",
    "forward",
    "app",
    "respond",
    "200",
    "\"hi\\n\"",
    "use",
    "=",
    "rate_limit",
    "rate",
    "10/s",
    "burst",
    "0",
    "key",
    "header(\"x\")",
    "timeout",
    "5s",
    "99999999999999999999",
    "-1",
    "#",
    "\"",
    "tls",
    "cert",
    "\"c.pem\"",
    "health",
    "http",
    "interval",
    "1ms",
    "max_body",
    "1TiB",
    "cache",
    "max_size",
    "jwt",
    "case_insensitive_paths",
    "allow_semicolons",
    "off",
    "ipv6_prefix",
    "129",
    "store",
    "redis",
    "redis_cluster",
    "redis_sentinel",
    "url",
    "nodes",
    "sentinels",
    "master",
    "database",
    "\"redis://edge@[::1]:6379/0\"",
    "\"rediss://:x@h\"",
    "password_env",
    "password_file",
    "prefix",
    "on_store_error",
    "local",
    "é",
    "\t",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let source = SourceFile::new("prop.edge", text);
    if let Err(diagnostics) = parse(&source) {
        prop_assert!(!diagnostics.is_empty());
        for diagnostic in diagnostics {
            prop_assert!(!diagnostic.labels.is_empty(), "{diagnostic:?} has no span");
            for label in &diagnostic.labels {
                prop_assert!(
                    label.span.start <= label.span.end && label.span.end <= text.len(),
                    "{diagnostic:?} points outside the file"
                );
                prop_assert!(text.is_char_boundary(label.span.start));
                prop_assert!(text.is_char_boundary(label.span.end));
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_redis_urls_never_panic(url in "(redis|rediss)://[^\"\\\\\n]{0,40}") {
        check(&format!("store s = redis {{\n    url \"{url}\"\n}}\n"))?;
    }

    #[test]
    fn arbitrary_cluster_nodes_never_panic(
        nodes in proptest::collection::vec(
            "(redis|rediss)://(edge@)?(a|B|b\\.c|\\[::1\\])(:[0-9]{0,5})?(/[0-9]{0,2})?",
            1..5,
        ),
    ) {
        let nodes: Vec<String> = nodes.iter().map(|node| format!("\"{node}\"")).collect();
        check(&format!("store s = redis_cluster {{\n    nodes {}\n}}\n", nodes.join(" ")))?;
    }

    #[test]
    fn arbitrary_sentinels_never_panic(
        sentinels in proptest::collection::vec(
            "(redis|rediss)://(edge@)?(a|B|b\\.c|\\[::1\\])(:[0-9]{0,5})?(/[0-9]{0,2})?",
            1..5,
        ),
    ) {
        let sentinels: Vec<String> = sentinels.iter().map(|s| format!("\"{s}\"")).collect();
        check(&format!(
            "store s = redis_sentinel {{\n    sentinels {}\n    master \"m\"\n}}\n",
            sentinels.join(" ")
        ))?;
    }

    #[test]
    fn soups_of_the_language_never_panic(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..80),
    ) {
        check(&words.concat())?;
    }
}
