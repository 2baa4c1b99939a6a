//! The VS Code extension's TextMate grammar (`editors/vscode/syntaxes/edge.tmLanguage.json`):
//! it is JSON, every pattern compiles (with fancy-regex, which reads the lookarounds the grammar
//! uses as Oniguruma does), every include is defined, its directive pattern knows exactly the
//! directives of the compiler's tables, and its value patterns match the literals they name.

use std::collections::BTreeSet;
use std::path::Path;

use edge_dsl::reference::Block;
use fancy_regex::Regex;
use serde_json::Value;

fn grammar() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../editors/vscode/syntaxes/edge.tmLanguage.json");
    let text = std::fs::read_to_string(&path).expect("the grammar is there");
    serde_json::from_str(&text).expect("the grammar is JSON")
}

/// Every string under `key` anywhere in `value`, with where it is.
fn all(value: &Value, key: &str, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                let here = format!("{at}/{name}");
                match inner {
                    Value::String(text) if name == key => found.push((here, text.clone())),
                    _ => all(inner, key, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                all(inner, key, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// The `match` of the pattern whose scope is `scope`.
fn pattern_named(grammar: &Value, scope: &str) -> Vec<Regex> {
    let mut names = Vec::new();
    all(grammar, "name", "", &mut names);
    names
        .into_iter()
        .filter(|(_, name)| name == scope)
        .filter_map(|(at, _)| {
            let parent = at.strip_suffix("/name")?;
            let pattern = grammar.pointer(&format!("{parent}/match"))?.as_str()?;
            Regex::new(pattern).ok()
        })
        .collect()
}

fn directives() -> BTreeSet<&'static str> {
    Block::all()
        .into_iter()
        .flat_map(|block| block.entries().map(|entry| entry.name()))
        .collect()
}

#[test]
fn every_pattern_compiles_and_every_include_is_defined() {
    let grammar = grammar();
    assert_eq!(grammar["scopeName"], "source.edge");
    let mut patterns = Vec::new();
    for key in ["match", "begin", "end"] {
        all(&grammar, key, "", &mut patterns);
    }
    assert!(patterns.len() > 20, "{} patterns", patterns.len());
    for (at, pattern) in patterns {
        if let Err(error) = Regex::new(&pattern) {
            panic!("{at}: {pattern:?} does not compile: {error}");
        }
    }
    let mut includes = Vec::new();
    all(&grammar, "include", "", &mut includes);
    for (at, include) in includes {
        let name = include.strip_prefix('#').expect("a repository include");
        assert!(
            grammar["repository"].get(name).is_some(),
            "{at}: no `{name}` in the repository"
        );
    }
}

#[test]
fn the_directive_pattern_knows_the_directives_of_the_compiler() {
    let grammar = grammar();
    let pattern = grammar["repository"]["directive"]["match"]
        .as_str()
        .expect("a directive pattern");
    let directive = Regex::new(pattern).expect("compiles");
    let known = directives();
    for name in &known {
        for line in [
            format!("    {name} 1"),
            format!("x {{ {name} 1"),
            format!("a; {name}"),
        ] {
            let captures = directive.captures(&line).expect("runs").expect("matches");
            assert_eq!(
                captures.get(1).map(|word| word.as_str()),
                Some(*name),
                "{line:?}"
            );
        }
    }
    for line in ["    bind_address 1", "    binds", "    accept_proxy_x"] {
        assert!(
            directive.captures(line).expect("runs").is_none(),
            "{line:?} is no directive"
        );
    }
    let alternation = Regex::new(r"\(((?:[a-z0-9_]+\|)+[a-z0-9_]+)\)").expect("compiles");
    let listed: BTreeSet<&str> = alternation
        .captures(pattern)
        .expect("runs")
        .and_then(|captures| captures.get(1))
        .map(|names| names.as_str().split('|').collect())
        .unwrap_or_default();
    assert_eq!(listed, known, "the grammar lists no other directives");
}

#[test]
fn values_are_matched_whole() {
    let grammar = grammar();
    let cases = [
        ("constant.numeric.duration.edge", ["250ms", "5s", "365d"]),
        ("constant.numeric.size.edge", ["512B", "64KiB", "10MB"]),
        ("constant.numeric.rate.edge", ["10/s", "600/m", "1000/h"]),
        (
            "constant.numeric.range.edge",
            ["200..299", "200..399", "500..599"],
        ),
        (
            "constant.numeric.address.edge",
            ["127.0.0.1:8080", "[::1]:8080", "10.0.0.0/8"],
        ),
        ("string.unquoted.path.edge", [" /users", " /static/", " /"]),
        (
            "markup.underline.link.edge",
            [
                "https://api.internal",
                "redis://10.0.0.5:6379/0",
                "rediss://h",
            ],
        ),
    ];
    for (scope, samples) in cases {
        let patterns = pattern_named(&grammar, scope);
        assert!(!patterns.is_empty(), "no pattern for {scope}");
        for sample in samples {
            let whole = patterns.iter().any(|pattern| {
                pattern
                    .find(sample)
                    .ok()
                    .flatten()
                    .is_some_and(|found| found.as_str() == sample.trim_start())
            });
            assert!(whole, "{scope} does not match {sample:?}");
        }
    }
}
