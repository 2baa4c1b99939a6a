//! The server's loop: the handshake, then each message in turn. Open and changed documents are
//! checked by the compiler and their diagnostics published; requests are answered from the
//! document's syntax tree. A request whose parameters do not fit gets an error response, an
//! unknown request `MethodNotFound`; neither stops the server.

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics, ShowMessage,
};
use lsp_types::request::{Completion, GotoDefinition, HoverRequest, References, Request as _};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverContents, HoverParams, HoverProviderCapability, Location,
    MarkupContent, MarkupKind, MessageType, OneOf, PublishDiagnosticsParams, ReferenceParams,
    ServerCapabilities, ShowMessageParams, TextDocumentPositionParams, TextDocumentSyncCapability,
    TextDocumentSyncKind, Url,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use edge_dsl::{Diagnostic, SourceFile};

use crate::completion::complete;
use crate::diagnostics::to_lsp;
use crate::documents::{Document, Documents};
use crate::hover::hover;
use crate::names::Names;
use crate::tree::Tree;
use crate::Error;

/// Whether the files a config names (certificates, keys, key sets...) must be present where
/// the editor runs, as for `edgec check`, or may be left for the proxy to check when it starts,
/// as with `--files-at-start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Files {
    Checked,
    AtStart,
}

/// The compiler's check of one document: its diagnostics. The `edgec` binary passes
/// `edge_compiler::analyze_with`; the compiler depends on this crate for its command line, so
/// this crate cannot call it itself.
pub type Check = fn(&SourceFile, Files) -> Vec<Diagnostic>;

/// Serves the editor at the other end of `connection` until it shuts the server down.
pub fn serve(connection: &Connection, check: Check) -> Result<(), Error> {
    let (id, params) = connection.initialize_start()?;
    let files = match params
        .pointer("/initializationOptions/filesAtStart")
        .and_then(Value::as_bool)
    {
        Some(true) => Files::AtStart,
        _ => Files::Checked,
    };
    let result = json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "edgec", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result)?;
    let mut server = Server {
        connection,
        check,
        files,
        documents: Documents::default(),
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                server.request(request)?;
            }
            Message::Notification(notification) if notification.method == "exit" => {
                return Err(Error::ExitWithoutShutdown);
            }
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
    Err(Error::Disconnected)
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![" ".to_owned()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    }
}

struct Server<'c> {
    connection: &'c Connection,
    check: Check,
    files: Files,
    documents: Documents,
}

/// Why a request got no result.
enum Refusal {
    /// Its parameters are not those of its method.
    Params(serde_json::Error),
    UnknownMethod,
}

impl Server<'_> {
    fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.connection
            .sender
            .send(message.into())
            .map_err(|_| Error::Disconnected)
    }

    fn request(&mut self, request: Request) -> Result<(), Error> {
        let id = request.id.clone();
        let response = match self.answer(request) {
            Ok(result) => Response::new_ok(id, result),
            Err(refusal) => refused(id, refusal),
        };
        self.send(response)
    }

    fn answer(&self, request: Request) -> Result<Value, Refusal> {
        let result = match request.method.as_str() {
            GotoDefinition::METHOD => {
                let params: GotoDefinitionParams = params(request.params)?;
                json!(self.definition(&params.text_document_position_params))
            }
            References::METHOD => {
                let params: ReferenceParams = params(request.params)?;
                json!(self.references(&params))
            }
            HoverRequest::METHOD => {
                let params: HoverParams = params(request.params)?;
                json!(self.hover(&params.text_document_position_params))
            }
            Completion::METHOD => {
                let params: CompletionParams = params(request.params)?;
                json!(self.completion(&params))
            }
            _ => return Err(Refusal::UnknownMethod),
        };
        Ok(result)
    }

    fn notification(&mut self, notification: Notification) -> Result<(), Error> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Some(params) = notified::<DidOpenTextDocumentParams>(notification) {
                    let document = params.text_document;
                    self.documents.open(document.uri.clone(), document.text);
                    return self.publish(&document.uri);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Some(params) = notified::<DidChangeTextDocumentParams>(notification) {
                    let uri = params.text_document.uri;
                    self.documents.change(&uri, params.content_changes);
                    return self.publish(&uri);
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Some(params) = notified::<DidCloseTextDocumentParams>(notification) {
                    let uri = params.text_document.uri;
                    self.documents.close(&uri);
                    return self.send(diagnostics(uri, Vec::new()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the document at `uri`, if it is open, and publishes its diagnostics. A check
    /// that panics (a bug of the compiler's) is reported to the editor, and the server goes on.
    fn publish(&self, uri: &Url) -> Result<(), Error> {
        let Some(document) = self.documents.get(uri) else {
            return Ok(());
        };
        let files = match document.path {
            Some(_) => self.files,
            None => Files::AtStart,
        };
        let source = document.source(uri);
        let check = std::panic::AssertUnwindSafe(|| (self.check)(&source, files));
        let Ok(found) = std::panic::catch_unwind(check) else {
            let failed = ShowMessageParams {
                typ: MessageType::ERROR,
                message: format!(
                    "edgec failed while checking {}: please report it",
                    source.name
                ),
            };
            return self.send(Notification::new(ShowMessage::METHOD.to_owned(), failed));
        };
        let shown = found
            .iter()
            .map(|diagnostic| to_lsp(diagnostic, uri, &document.text, &document.lines))
            .collect();
        self.send(diagnostics(uri.clone(), shown))
    }

    /// The open document and the byte offset a request points at.
    fn at(&self, position: &TextDocumentPositionParams) -> Option<(&Document, usize)> {
        let document = self.documents.get(&position.text_document.uri)?;
        let offset = document.lines.offset(&document.text, position.position);
        Some((document, offset))
    }

    fn definition(&self, position: &TextDocumentPositionParams) -> Option<GotoDefinitionResponse> {
        let (document, offset) = self.at(position)?;
        let tree = Tree::parse_around(&document.text, offset)?;
        let names = Names::of(&tree);
        let name = names.at(offset)?;
        let uri = &position.text_document.uri;
        let found: Vec<Location> = names
            .declarations(&name)
            .iter()
            .map(|declared| {
                Location::new(
                    uri.clone(),
                    document.lines.range(&document.text, declared.span),
                )
            })
            .collect();
        (!found.is_empty()).then_some(GotoDefinitionResponse::Array(found))
    }

    fn references(&self, params: &ReferenceParams) -> Option<Vec<Location>> {
        let position = &params.text_document_position;
        let (document, offset) = self.at(position)?;
        let tree = Tree::parse_around(&document.text, offset)?;
        let names = Names::of(&tree);
        let name = names.at(offset)?;
        let uri = &position.text_document.uri;
        let uses = names.uses(&name, params.context.include_declaration);
        Some(
            uses.iter()
                .map(|used| {
                    Location::new(uri.clone(), document.lines.range(&document.text, used.span))
                })
                .collect(),
        )
    }

    fn hover(&self, position: &TextDocumentPositionParams) -> Option<Hover> {
        let (document, offset) = self.at(position)?;
        let tree = Tree::parse_around(&document.text, offset)?;
        let (shown, span) = hover(&tree, &document.text, offset)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: shown,
            }),
            range: Some(document.lines.range(&document.text, span)),
        })
    }

    fn completion(&self, params: &CompletionParams) -> Option<CompletionResponse> {
        let (document, offset) = self.at(&params.text_document_position)?;
        let on_space = params
            .context
            .as_ref()
            .and_then(|context| context.trigger_character.as_deref())
            == Some(" ");
        Some(CompletionResponse::Array(complete(
            &document.text,
            offset,
            on_space,
        )))
    }
}

fn params<P: DeserializeOwned>(params: Value) -> Result<P, Refusal> {
    serde_json::from_value(params).map_err(Refusal::Params)
}

/// A notification's parameters; one that does not fit its method is ignored, as the protocol
/// has no answer to a notification.
fn notified<P: DeserializeOwned>(notification: Notification) -> Option<P> {
    serde_json::from_value(notification.params).ok()
}

fn refused(id: RequestId, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Params(error) => Response::new_err(
            id,
            ErrorCode::InvalidParams as i32,
            format!("invalid parameters: {error}"),
        ),
        Refusal::UnknownMethod => Response::new_err(
            id,
            ErrorCode::MethodNotFound as i32,
            "edgec lsp does not answer this request".to_owned(),
        ),
    }
}

fn diagnostics(uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) -> Notification {
    Notification::new(
        PublishDiagnostics::METHOD.to_owned(),
        PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        },
    )
}
