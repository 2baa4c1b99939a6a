// The Edge extension: the grammar and language settings come from package.json; this starts
// `edgec lsp` (the `edge.edgecPath` setting, `edgec` by default) for every `.edge` document,
// and starts it again when the settings change.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

async function start() {
  const settings = vscode.workspace.getConfiguration("edge");
  const command = settings.get("edgecPath", "edgec");
  client = new LanguageClient(
    "edge",
    "Edge (edgec lsp)",
    { command, args: ["lsp"] },
    {
      documentSelector: [{ language: "edge" }],
      initializationOptions: { filesAtStart: settings.get("filesAtStart", false) },
    },
  );
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    vscode.window.showErrorMessage(
      `Edge: cannot run \`${command} lsp\` (${error.message}). Set "edge.edgecPath" to the edgec binary.`,
    );
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("edge")) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
