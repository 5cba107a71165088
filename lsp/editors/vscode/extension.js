// Starts `kdep lsp` for .kdep files and shows the manifests the code lens asks for.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function start(context) {
  const command = vscode.workspace.getConfiguration("kdep").get("server.path") || "kdep";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "kdep",
    "kdep",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "kdep" }],
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.kdep,kdep.toml}"),
      },
      middleware: {
        // The code lens runs `kdep.showManifests` on the server; its answer (YAML) opens in an
        // untitled editor.
        executeCommand: async (cmd, args, next) => {
          const yaml = await next(cmd, args);
          if (cmd === "kdep.showManifests" && typeof yaml === "string") {
            const doc = await vscode.workspace.openTextDocument({ language: "yaml", content: yaml });
            await vscode.window.showTextDocument(doc, { preview: true });
          }
          return yaml;
        },
      },
    }
  );
  return client.start();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("kdep.restartServer", async () => {
      if (client) {
        await client.stop();
      }
      await start(context);
    })
  );
  return start(context);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
