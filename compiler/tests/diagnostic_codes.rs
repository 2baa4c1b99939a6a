//! The diagnostic codes cannot drift from their documentation: every code the language and the
//! compiler use is kebab-case and listed, with its severity, in the table under "### Diagnostic
//! codes" in docs/language.md, and every code listed there is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, at any depth.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// Code → severity for every `Diagnostic::error(` and `Diagnostic::warning(` in the sources of
/// the language and the compiler. Each must give its code as a string literal, the first
/// argument, so that a text search finds them all.
fn used_codes(root: &Path) -> BTreeMap<String, &'static str> {
    let mut used = BTreeMap::new();
    for file in ["dsl/src", "compiler/src"]
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
    {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for severity in ["error", "warning"] {
            let call = format!("Diagnostic::{severity}(");
            for (at, _) in text.match_indices(&call) {
                let code = text[at + call.len()..]
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|rest| rest.split_once('"'))
                    .map(|(code, _)| code)
                    .unwrap_or_else(|| {
                        panic!("{}: a {call} without a literal code", file.display())
                    });
                let earlier = used.insert(code.to_owned(), severity);
                assert!(
                    earlier.is_none_or(|earlier| earlier == severity),
                    "`{code}` is both an error and a warning"
                );
            }
        }
    }
    used
}

/// Code → severity, from the rows of the table under "### Diagnostic codes".
fn documented_codes(language: &str) -> BTreeMap<String, String> {
    let section = language
        .split_once("\n### Diagnostic codes\n")
        .expect("docs/language.md has a section \"### Diagnostic codes\"")
        .1;
    let mut documented = BTreeMap::new();
    let rows = section
        .lines()
        .take_while(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with("| `"));
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let [_, code, severity, meaning, _] = cells.as_slice() else {
            panic!("not a row of code, severity and meaning: {row}");
        };
        assert!(!meaning.is_empty(), "no meaning for {code}");
        let code = code.trim_matches('`').to_owned();
        let earlier = documented.insert(code.clone(), severity.to_string());
        assert!(earlier.is_none(), "`{code}` is listed twice");
    }
    documented
}

/// `unknown-directive`: lower-case words of letters and digits, joined by single hyphens.
fn is_kebab_case(code: &str) -> bool {
    code.split('-').all(|word| {
        !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

#[test]
fn every_code_is_kebab_case_and_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let used = used_codes(&root);
    assert!(used.len() >= 40, "the codes went missing: {used:?}");
    let language = std::fs::read_to_string(root.join("docs/language.md")).unwrap();
    let documented = documented_codes(&language);

    let not_kebab: Vec<_> = used.keys().filter(|code| !is_kebab_case(code)).collect();
    assert!(
        not_kebab.is_empty(),
        "codes not in kebab-case: {not_kebab:?}"
    );
    let undocumented: Vec<_> = used
        .iter()
        .filter(|(code, severity)| documented.get(*code).map(String::as_str) != Some(**severity))
        .collect();
    assert!(
        undocumented.is_empty(),
        "codes missing from docs/language.md, or listed with another severity: {undocumented:?}"
    );
    let unused: Vec<_> = documented
        .keys()
        .filter(|code| !used.contains_key(*code))
        .collect();
    assert!(
        unused.is_empty(),
        "codes listed in docs/language.md but never used: {unused:?}"
    );
}
