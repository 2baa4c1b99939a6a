//! The compiler's diagnostics as the protocol carries them: the primary label's span as the
//! range (UTF-16 columns), the severity, the stable code, the message followed by the primary
//! label's text and the help lines, and the secondary labels as related information.

use edge_dsl::{Diagnostic, Severity, Span};
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Url};

use crate::lines::Lines;

/// What the diagnostics say they come from.
const SOURCE: &str = "edgec";

/// `diagnostic`, found in `text` (the document at `uri`), for the protocol.
pub fn to_lsp(
    diagnostic: &Diagnostic,
    uri: &Url,
    text: &str,
    lines: &Lines,
) -> lsp_types::Diagnostic {
    let primary = diagnostic.labels.iter().find(|label| label.primary);
    let span = primary.map_or_else(Span::default, |label| label.span);
    let mut message = diagnostic.message.clone();
    if let Some(label) = primary.filter(|label| !label.message.is_empty()) {
        message.push_str(&format!(": {}", label.message));
    }
    for help in &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .labels
        .iter()
        .filter(|label| !label.primary)
        .map(|label| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), lines.range(text, label.span)),
            message: label.message.clone(),
        })
        .collect();
    lsp_types::Diagnostic {
        range: lines.range(text, span),
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(diagnostic.code.to_owned())),
        source: Some(SOURCE.to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_dsl::Label;
    use lsp_types::{Position, Range};

    #[test]
    fn labels_become_the_range_the_message_and_related_places() {
        let text = "# é\nroute r {\n}\n";
        let diagnostic = Diagnostic::error("duplicate-name", "two routes are named `r`")
            .with_label(Label::primary(Span::new(5, 12), "second"))
            .with_label(Label::secondary(Span::new(0, 1), "first"))
            .with_help("rename one");
        let uri = Url::parse("file:///tmp/a.edge").expect("a URL");
        let shown = to_lsp(&diagnostic, &uri, text, &Lines::new(text));
        assert_eq!(
            shown.range,
            Range::new(Position::new(1, 0), Position::new(1, 7))
        );
        assert_eq!(
            shown.message,
            "two routes are named `r`: second\nhelp: rename one"
        );
        assert_eq!(
            shown.code,
            Some(NumberOrString::String("duplicate-name".to_owned()))
        );
        assert_eq!(shown.severity, Some(DiagnosticSeverity::ERROR));
        let related = shown.related_information.expect("the first place");
        assert_eq!(related[0].message, "first");
        assert_eq!(related[0].location.range.start, Position::new(0, 0));
    }
}
