//! `kdep lsp` over stdio: the real binary, driven by JSON-RPC messages as an editor sends them,
//! with the responses snapshotted (paths replaced by `$WS`/`$CACHE`).
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a missing field or failed step is a failed test, and JSON paths read best as indexing"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// Guards against a hang only; nothing is timed.
const HANG: Duration = Duration::from_secs(120);

struct Lsp {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    notes: Vec<Value>,
    ws: PathBuf,
    cache: PathBuf,
}

fn write_msg(stdin: &Mutex<ChildStdin>, msg: &Value) {
    let body = serde_json::to_string(msg).unwrap();
    let mut w = stdin.lock().unwrap();
    // A server that has exited closes the pipe; the test then fails on the missing answer.
    let _ = write!(w, "Content-Length: {}\r\n\r\n{body}", body.len());
    let _ = w.flush();
}

impl Lsp {
    fn start(ws: &Path, cache: &Path, env: &[(&str, &str)]) -> Lsp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kdep"));
        cmd.arg("lsp")
            .current_dir(ws)
            .env("XDG_CACHE_HOME", cache)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kdep lsp starts");
        let stdin = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let answer = Arc::clone(&stdin);
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let msg: Value = serde_json::from_slice(&body).unwrap();
                // Requests from the server (registerCapability): accepted.
                if msg.get("method").is_some() && msg.get("id").is_some() {
                    write_msg(&answer, &json!({"jsonrpc": "2.0", "id": msg["id"], "result": null}));
                    continue;
                }
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Lsp { child, stdin, rx, next_id: 0, notes: Vec::new(), ws: ws.to_path_buf(), cache: cache.to_path_buf() }
    }

    fn uri(&self, rel: &str) -> String {
        format!("file://{}/{rel}", self.ws.display())
    }

    fn notify(&mut self, method: &str, params: Value) {
        write_msg(&self.stdin, &json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its whole response (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// Sends a request without waiting for its answer; its id.
    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        write_msg(&self.stdin, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The response to request `id`.
    fn response(&mut self, id: i64) -> Value {
        loop {
            let msg = self.rx.recv_timeout(HANG).expect("the server answers");
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            self.notes.push(msg);
        }
    }

    fn initialize(&mut self) {
        self.initialize_with(json!({}));
    }

    fn initialize_with(&mut self, capabilities: Value) {
        let root = self.uri("");
        let r = self.request("initialize", json!({"processId": null, "rootUri": root, "capabilities": capabilities}));
        assert!(r.get("result").is_some(), "{r}");
        self.notify("initialized", json!({}));
    }

    /// The next notification `method` (already received or still to come).
    fn notification(&mut self, method: &str) -> Value {
        if let Some(pos) = self.notes.iter().position(|m| m["method"] == method) {
            return self.notes.remove(pos)["params"].clone();
        }
        loop {
            match self.rx.recv_timeout(HANG) {
                Ok(m) if m["method"] == method => return m["params"].clone(),
                Ok(m) => self.notes.push(m),
                Err(e) => panic!("no {method} notification ({e:?}); got {:#?}", self.notes),
            }
        }
    }

    fn open(&mut self, rel: &str) {
        let text = std::fs::read_to_string(self.ws.join(rel)).unwrap();
        let uri = self.uri(rel);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "kdep", "version": 1, "text": text}}),
        );
    }

    fn change(&mut self, rel: &str, version: i64, text: &str) {
        let uri = self.uri(rel);
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// The next diagnostics published for `rel` that satisfy `ok`.
    fn diagnostics(&mut self, rel: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let uri = self.uri(rel);
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == json!(uri)
                && ok(&m["params"]["diagnostics"])
        };
        if let Some(pos) = self.notes.iter().rposition(&matches) {
            let m = self.notes.remove(pos);
            self.notes.drain(..pos);
            return m["params"]["diagnostics"].clone();
        }
        loop {
            match self.rx.recv_timeout(HANG) {
                Ok(m) if matches(&m) => return m["params"]["diagnostics"].clone(),
                Ok(m) => self.notes.push(m),
                Err(RecvTimeoutError::Timeout) => panic!("no matching diagnostics for {rel}; got {:#?}", self.notes),
                Err(RecvTimeoutError::Disconnected) => panic!("the server exited"),
            }
        }
    }

    fn at(&mut self, method: &str, rel: &str, line: u32, character: u32) -> Value {
        let uri = self.uri(rel);
        let mut params = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        if method == "textDocument/references" {
            params["context"] = json!({"includeDeclaration": true});
        }
        let r = self.request(method, params);
        self.clean(r)
    }

    /// The response with machine-specific paths replaced.
    fn clean(&self, mut v: Value) -> Value {
        // Object keys sorted: a workspace edit's `changes` is a map without an order.
        v.sort_all_objects();
        let text = serde_json::to_string(&v).unwrap();
        let text = text
            .replace(&format!("file://{}", self.ws.display()), "$WS")
            .replace(&format!("file://{}", self.cache.display()), "$CACHE");
        let text = match text.find("stdlib-") {
            Some(i) => format!("{}stdlib-HASH{}", &text[..i], &text[i + "stdlib-".len() + 16..]),
            None => text,
        };
        serde_json::from_str(&text).unwrap()
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r}");
        // After shutdown, requests are refused with InvalidRequest, never answered or crashed on.
        let uri = self.uri("shop/app.kdep");
        let r = self.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}),
        );
        assert_eq!(r["error"]["code"], -32600, "{r}");
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

fn write(ws: &Path, rel: &str, text: &str) {
    let path = ws.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const PLATFORM: &str = r#"import std.workloads

/// The company's web service.
template WebService {
    /// DNS-1123 name of every object.
    name: string
    replicas: int(1..20) = 2
    size: "small" | "medium" | "large" = "small"
    locked port = 8080

    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata.name = name
        data = { size = size, replicas = "${replicas}", port = "${port}" }
    }
}
"#;

const APP: &str = r#"import platform.web

app checkout = web.WebService {
    name = "checkout"
    replicas = 3
    port = 9090

    in production {
        size = "large"
    }
}
"#;

fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = std::fs::canonicalize(tmp.path()).unwrap().join("ws");
    let cache = std::fs::canonicalize(tmp.path()).unwrap().join("cache");
    write(&ws, "platform/kdep.toml", "[package]\nname = \"platform\"\nversion = \"1.0.0\"\n");
    write(&ws, "platform/web.kdep", PLATFORM);
    write(
        &ws,
        "shop/kdep.toml",
        "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = { path = \"../platform\" }\n",
    );
    write(&ws, "shop/app.kdep", APP);
    write(&ws, "shop/environments.kdep", "environment staging { namespace = \"shop-staging\" }\nenvironment production { namespace = \"shop\", protected = true }\n");
    (tmp, ws, cache)
}

/// The diagnostics of `kdep check --message-format json` for one file, as (code, line, column,
/// message) in protocol coordinates (0-based; the fixtures are ASCII, so columns agree).
fn check_diagnostics(ws: &Path, package: &str, file: &str) -> Vec<(String, u64, u64, String)> {
    let run = common::kdep(&ws.join(package), &["check", "--message-format", "json"]);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["primary"]["file"] == file)
        .map(|d| {
            let p = &d["primary"];
            (
                d["code"].as_str().unwrap().to_owned(),
                p["line"].as_u64().unwrap() - 1,
                p["column"].as_u64().unwrap() - 1,
                d["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn lsp_diagnostics(diags: &Value) -> Vec<(String, u64, u64, String)> {
    diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let first = d["message"].as_str().unwrap().lines().next().unwrap().to_owned();
            (
                d["code"].as_str().unwrap().to_owned(),
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["range"]["start"]["character"].as_u64().unwrap(),
                first,
            )
        })
        .collect()
}

#[test]
fn diagnostics_while_typing_are_those_of_kdep_check() {
    let (_tmp, ws, cache) = workspace();
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    let diags = lsp.diagnostics("shop/app.kdep", |d| !d.as_array().unwrap().is_empty());
    insta::assert_json_snapshot!("lsp_locked_port_diagnostic", lsp.clean(diags.clone()));
    assert_eq!(lsp_diagnostics(&diags), check_diagnostics(&ws, "shop", "app.kdep"));

    // Typing: the override goes, a disallowed value comes; each edit gets what check says of it.
    let edited = APP.replace("    port = 9090\n", "").replace("\"large\"", "\"huge\"");
    lsp.change("shop/app.kdep", 2, &edited);
    let diags = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0206"));
    write(&ws, "shop/app.kdep", &edited);
    assert_eq!(lsp_diagnostics(&diags), check_diagnostics(&ws, "shop", "app.kdep"));
    insta::assert_json_snapshot!("lsp_disallowed_value_diagnostic", lsp.clean(diags));

    // Fixed: the diagnostics are cleared.
    lsp.change("shop/app.kdep", 3, &edited.replace("\"huge\"", "\"large\""));
    lsp.diagnostics("shop/app.kdep", |d| d.as_array().unwrap().is_empty());
    lsp.shutdown();
}

#[test]
fn hover_completion_definition_symbols_and_formatting() {
    let (_tmp, ws, cache) = workspace();
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);

    // Hover on `replicas = 3` (line 4) and on the locked `port` (line 5).
    let replicas = lsp.at("textDocument/hover", "shop/app.kdep", 4, 5);
    let port = lsp.at("textDocument/hover", "shop/app.kdep", 5, 5);
    let template = lsp.at("textDocument/hover", "shop/app.kdep", 2, 25);
    // On `size` in `in production`: the value in each environment and the layer that set it.
    let size = lsp.at("textDocument/hover", "shop/app.kdep", 8, 9);
    insta::assert_json_snapshot!(
        "lsp_hover",
        json!({"replicas": replicas, "port": port, "template": template, "size": size})
    );

    // Go to definition: the field in the platform package, the template, the stdlib module.
    let field = lsp.at("textDocument/definition", "shop/app.kdep", 4, 5);
    let tpl = lsp.at("textDocument/definition", "shop/app.kdep", 2, 25);
    lsp.open("platform/web.kdep");
    let std_module = lsp.at("textDocument/definition", "platform/web.kdep", 0, 12);
    insta::assert_json_snapshot!("lsp_definition", json!({"field": field, "template": tpl, "stdlib": std_module}));
    // The stdlib document exists on disk, read-only, with the stdlib's text.
    let dirs: Vec<_> = std::fs::read_dir(cache.join("kdep")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let std_path = dirs[0].join("std/workloads.kdep");
    assert!(std::fs::metadata(&std_path).unwrap().permissions().readonly());
    assert!(std::fs::read_to_string(&std_path).unwrap().contains("template WebService"));

    // References of the field `replicas`: its declaration, its use in the template, the app.
    let refs = lsp.at("textDocument/references", "platform/web.kdep", 6, 5);
    insta::assert_json_snapshot!("lsp_references", refs);

    // Completion in the app body: fields still settable (not `port`: locked; not `name`,
    // `replicas`: set). In a half-written `in` block: the same, and environment names.
    let half =
        APP.replace("    in production {\n        size = \"large\"\n    }\n}\n", "    in production {\n        \n");
    lsp.change("shop/app.kdep", 2, &half);
    let in_block = lsp.at("textDocument/completion", "shop/app.kdep", 8, 8);
    let half2 = APP.replace("    in production {", "    in \n    in production {");
    lsp.change("shop/app.kdep", 3, &half2);
    let envs = lsp.at("textDocument/completion", "shop/app.kdep", 7, 7);
    let half3 = APP.replace("size = \"large\"", "size = ");
    lsp.change("shop/app.kdep", 4, &half3);
    let values = lsp.at("textDocument/completion", "shop/app.kdep", 8, 15);
    let half4 = APP.replace("import platform.web", "import platform.web\nimport pl");
    lsp.change("shop/app.kdep", 5, &half4);
    let modules = lsp.at("textDocument/completion", "shop/app.kdep", 1, 9);
    let modules: Vec<Value> = modules["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["label"].as_str().unwrap().starts_with("k8s."))
        .cloned()
        .collect();
    insta::assert_json_snapshot!(
        "lsp_completion",
        json!({"in_block": in_block, "environments": envs, "values": values, "modules": modules})
    );

    // Kubernetes fields inside a typed, half-written emit block: the fields of the kind's
    // schema not set yet, with their OpenAPI descriptions; hover on a key shows its description.
    let typed = "import k8s.apps.v1 as apps\n\ntemplate T {\n    name: string\n    emit apps.Deployment {\n        metadata.name = name\n        spec = {\n            replicas = 2\n            \n";
    write(&ws, "platform/typed.kdep", typed);
    lsp.open("platform/typed.kdep");
    let spec = lsp.at("textDocument/completion", "platform/typed.kdep", 8, 12);
    let labels: Vec<Value> =
        spec["result"].as_array().unwrap().iter().map(|i| json!([i["label"], i["detail"]])).collect();
    let top = lsp.at("textDocument/completion", "platform/typed.kdep", 5, 8);
    let top_labels: Vec<Value> = top["result"].as_array().unwrap().iter().map(|i| i["label"].clone()).collect();
    let hover = lsp.at("textDocument/hover", "platform/typed.kdep", 7, 14);
    insta::assert_json_snapshot!(
        "lsp_kubernetes_fields",
        json!({"spec": labels, "top": top_labels, "hover_replicas": hover["result"]["contents"]["value"]})
    );

    // Document symbols, workspace symbols.
    lsp.change("shop/app.kdep", 6, APP);
    let symbols = lsp.at("textDocument/documentSymbol", "platform/web.kdep", 0, 0);
    let r = lsp.request("workspace/symbol", json!({"query": "checkout"}));
    let ws_symbols = lsp.clean(r);
    insta::assert_json_snapshot!("lsp_symbols", json!({"document": symbols, "workspace": ws_symbols}));

    // Formatting: the same text `kdep fmt` writes.
    let messy = "import platform.web\napp   checkout=web.WebService{name=\"checkout\"\n replicas = 3}\n";
    lsp.change("shop/app.kdep", 7, messy);
    let uri = lsp.uri("shop/app.kdep");
    let r = lsp.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    let formatted = r["result"][0]["newText"].as_str().unwrap().to_owned();
    write(&ws, "shop/app.kdep", messy);
    let run = common::kdep(&ws, &["fmt", "shop/app.kdep"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(formatted, std::fs::read_to_string(ws.join("shop/app.kdep")).unwrap());
    insta::assert_snapshot!("lsp_formatting", formatted);

    // Code lens and the command it runs: the app's manifests for an environment.
    lsp.change("shop/app.kdep", 8, &APP.replace("    port = 9090\n", ""));
    let lens = lsp.at("textDocument/codeLens", "shop/app.kdep", 0, 0);
    let args = lens["result"][0]["command"]["arguments"].clone();
    let args = json!([lsp.uri("shop/app.kdep"), args[1], args[2]]);
    let r = lsp.request("workspace/executeCommand", json!({"command": "kdep.showManifests", "arguments": args}));
    insta::assert_json_snapshot!("lsp_code_lens", json!({"lenses": lens, "manifests": r["result"]}));
    lsp.shutdown();
}

#[test]
fn bad_input_gets_an_error_or_a_diagnostic_never_a_crash() {
    let (_tmp, ws, cache) = workspace();
    write(&ws, "loose/notes.kdep", "let x = 1\n");
    std::fs::write(ws.join("shop/latin1.kdep"), b"let caf\xe9 = 1\n").unwrap();
    let mut lsp = Lsp::start(&ws, &cache, &[("KDEP_LSP_PANIC_ON", "hover")]);

    // Before initialize: ServerNotInitialized.
    let r = lsp.at("textDocument/hover", "shop/app.kdep", 0, 0);
    assert_eq!(r["error"]["code"], -32002, "{r}");
    lsp.initialize();

    // A file outside any package: one clear diagnostic, and empty answers.
    lsp.open("loose/notes.kdep");
    let d = lsp.diagnostics("loose/notes.kdep", |d| !d.as_array().unwrap().is_empty());
    insta::assert_json_snapshot!("lsp_outside_package", d);
    let r = lsp.at("textDocument/completion", "loose/notes.kdep", 0, 4);
    assert_eq!(r["result"], Value::Null, "{r}");

    // A file that is not UTF-8: reported on the package's kdep.toml, like `kdep check` does.
    lsp.open("shop/app.kdep");
    let d = lsp.diagnostics("shop/kdep.toml", |d| d.to_string().contains("UTF-8"));
    insta::assert_json_snapshot!("lsp_not_utf8", d);

    // A panic inside a request: answered with an internal error, and the server goes on.
    let r = lsp.at("textDocument/hover", "shop/app.kdep", 4, 5);
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("injected panic in hover"), "{r}");
    // ... and logged to the client as an error.
    let log = lsp.notification("window/logMessage");
    assert_eq!(log["type"], 1, "{log}");
    assert!(log["message"].as_str().unwrap().contains("internal error in hover: injected panic"), "{log}");
    let r = lsp.at("textDocument/definition", "shop/app.kdep", 4, 5);
    assert!(r["result"]["uri"].as_str().unwrap().ends_with("platform/web.kdep"), "{r}");

    // A broken kdep.toml: its diagnostic, then fixed again; deleted: the files are outside.
    std::fs::remove_file(ws.join("shop/latin1.kdep")).unwrap();
    let toml_uri = lsp.uri("shop/kdep.toml");
    std::fs::write(ws.join("shop/kdep.toml"), "[package\nname = \"shop\"\n").unwrap();
    lsp.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": toml_uri, "type": 2}]}));
    let d = lsp.diagnostics("shop/kdep.toml", |d| d.to_string().contains("K0"));
    insta::assert_json_snapshot!("lsp_broken_package_toml", d);
    std::fs::write(
        ws.join("shop/kdep.toml"),
        "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = { path = \"../platform\" }\n",
    )
    .unwrap();
    lsp.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": toml_uri, "type": 2}]}));
    lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0301"));
    std::fs::remove_file(ws.join("shop/kdep.toml")).unwrap();
    lsp.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": toml_uri, "type": 3}]}));
    let d = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("not in a kdep package"));
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");

    // Garbage edits: every answer is a result or an error, and the server keeps serving.
    write(
        &ws,
        "shop/kdep.toml",
        "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = { path = \"../platform\" }\n",
    );
    lsp.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": toml_uri, "type": 1}]}));
    let mut text = APP.to_owned();
    for (i, cut) in (0..APP.len()).step_by(7).enumerate() {
        text = format!("{}{{[\"${{\n{}", &APP[..cut], &APP[cut..]);
        lsp.change("shop/app.kdep", 10 + i as i64, &text);
        for method in [
            "textDocument/completion",
            "textDocument/definition",
            "textDocument/references",
            "textDocument/documentSymbol",
        ] {
            let r = lsp.at(method, "shop/app.kdep", (i % 12) as u32, (i % 20) as u32);
            assert!(r.get("result").is_some() || r["error"]["code"] == -32801, "{method}: {r}");
        }
    }
    assert!(!text.is_empty());
    lsp.shutdown();
}

/// The code actions offered for the diagnostics published on `rel` right now.
fn fixes_for(lsp: &mut Lsp, rel: &str, diags: &Value) -> Value {
    let uri = lsp.uri(rel);
    let r = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": diags}}),
    );
    let titles: Vec<Value> =
        r["result"].as_array().unwrap().iter().map(|a| json!({"title": a["title"], "edit": a["edit"]})).collect();
    lsp.clean(json!(titles))
}

#[test]
fn quick_fixes_rename_and_inlay_hints() {
    let (_tmp, ws, cache) = workspace();
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    let locked = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0301"));
    let remove = fixes_for(&mut lsp, "shop/app.kdep", &locked);

    let typo = APP.replace("    port = 9090\n", "").replace("replicas = 3", "replica = 3");
    lsp.change("shop/app.kdep", 2, &typo);
    let d = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0202"));
    let misspelt = fixes_for(&mut lsp, "shop/app.kdep", &d);

    let huge = APP.replace("    port = 9090\n", "").replace("\"large\"", "\"huge\"");
    lsp.change("shop/app.kdep", 3, &huge);
    let d = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0206"));
    let values = fixes_for(&mut lsp, "shop/app.kdep", &d);

    let missing = APP.replace("    port = 9090\n", "").replace("    name = \"checkout\"\n", "");
    lsp.change("shop/app.kdep", 4, &missing);
    let d = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0203"));
    let required = fixes_for(&mut lsp, "shop/app.kdep", &d);
    insta::assert_json_snapshot!(
        "lsp_quick_fixes",
        json!({"locked": remove, "misspelt": misspelt, "values": values, "required": required})
    );

    // Inlay hints: the defaults the app inherits and does not set.
    lsp.change("shop/app.kdep", 5, &APP.replace("    replicas = 3\n", ""));
    let uri = lsp.uri("shop/app.kdep");
    let r = lsp.request("textDocument/inlayHint", json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 20, "character": 0}}}));
    insta::assert_json_snapshot!("lsp_inlay_hints", r["result"]);

    // Rename the platform's field: its declaration, its use in the template, the app's key in
    // the dependent package. Refused: a name the template has, a non-name, the stdlib.
    lsp.change("shop/app.kdep", 6, APP);
    lsp.open("platform/web.kdep");
    let uri = lsp.uri("platform/web.kdep");
    let r = lsp.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": 6, "character": 5}, "newName": "count"}),
    );
    let renamed = lsp.clean(r["result"].clone());
    let clash = lsp.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": 6, "character": 5}, "newName": "size"}),
    );
    let bad = lsp.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": 6, "character": 5}, "newName": "9x"}),
    );
    let module = lsp.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 12}, "newName": "w"}),
    );
    // Semantic tokens of the app file, decoded back to (line, column, text, type, modifiers).
    let app_uri = lsp.uri("shop/app.kdep");
    let r = lsp.request("textDocument/semanticTokens/full", json!({"textDocument": {"uri": app_uri}}));
    let data: Vec<u64> = r["result"]["data"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let lines: Vec<&str> = APP.lines().collect();
    let (mut line, mut col) = (0u64, 0u64);
    let mut decoded = Vec::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            col = 0;
        }
        line += t[0];
        col += t[1];
        let text: String = lines[line as usize].chars().skip(col as usize).take(t[2] as usize).collect();
        decoded.push(format!("{line}:{col} {text} type={} mods={}", t[3], t[4]));
    }
    insta::assert_snapshot!("lsp_semantic_tokens", decoded.join("\n"));

    insta::assert_json_snapshot!(
        "lsp_rename",
        json!({"renamed": renamed, "clash": clash["error"], "not_a_name": bad["error"], "module": module["error"]})
    );
    lsp.shutdown();
}

/// A git dependency is found where `kdep build --offline` finds it (the lock and the cache),
/// so the editor checks against the fetched platform; with an empty cache it says what to run.
#[test]
fn git_dependencies_come_from_the_cache() {
    let (_tmp, ws, cache) = workspace();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(ws.join("platform"))
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "platform"]);
    git(&["tag", "v1.0.0"]);
    let url = format!("file://{}", ws.join("platform").display());
    write(
        &ws,
        "shop/kdep.toml",
        &format!(
            "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = {{ git = \"{url}\", tag = \"v1.0.0\" }}\n"
        ),
    );
    // Fetch into the cache the editor will use (`$XDG_CACHE_HOME/kdep`, as `Lsp::start` sets).
    let fetch = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(["mod", "fetch"])
        .current_dir(ws.join("shop"))
        .env("XDG_CACHE_HOME", &cache)
        .env_remove("KDEP_CACHE")
        .output()
        .unwrap();
    assert!(fetch.status.success(), "{}", String::from_utf8_lossy(&fetch.stderr));

    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    // The locked port is the fetched platform's lock: the same diagnostic as with a path dependency.
    let diags = lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0301"));
    assert!(!diags.to_string().contains("K0701"), "{diags}");
    lsp.shutdown();

    // Another, empty cache: the dependency is not there, and the editor says how to get it.
    let empty = cache.with_file_name("empty-cache");
    let mut lsp = Lsp::start(&ws, &empty, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    let diags = lsp.diagnostics("shop/kdep.toml", |d| d.to_string().contains("K0701"));
    assert!(diags.to_string().contains("kdep mod fetch"), "{diags}");
    lsp.shutdown();
}

/// Rename of an environment: its declaration and every `in` block, across files; the places
/// the rename cannot see (`--env` in CI, strings such as `build("production")` in tests) are
/// named in the confirmation the client shows (a change annotation), or in a message for a
/// client without annotations. A clash with another environment or a keyword is refused.
#[test]
fn environment_rename() {
    let (_tmp, ws, cache) = workspace();
    write(
        &ws,
        "shop/more.kdep",
        "import platform.web\n\napp cart = web.WebService {\n    name = \"cart\"\n\n    in production {\n        replicas = 4\n    }\n    in staging {\n        replicas = 1\n    }\n}\n",
    );
    write(
        &ws,
        "shop/tests.kdep",
        "test \"cart runs in production\" {\n    assert len(build(\"production\")) == 2\n}\n",
    );
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize_with(json!({"workspace": {"workspaceEdit": {"documentChanges": true, "changeAnnotationSupport": {"groupsOnLabel": false}}}}));
    lsp.open("shop/app.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);
    let rename = |lsp: &mut Lsp, rel: &str, line: u32, character: u32, new_name: &str| {
        let uri = lsp.uri(rel);
        let r = lsp.request(
            "textDocument/rename",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "newName": new_name}),
        );
        lsp.clean(r)
    };
    // From an `in production` block (app.kdep line 8) and from the declaration.
    let from_block = rename(&mut lsp, "shop/app.kdep", 7, 8, "prod");
    let from_decl = rename(&mut lsp, "shop/environments.kdep", 1, 14, "prod");
    assert_eq!(from_block["result"], from_decl["result"]);
    // References of the environment: the same places.
    let refs = lsp.at("textDocument/references", "shop/environments.kdep", 1, 14);
    let clash = rename(&mut lsp, "shop/app.kdep", 7, 8, "staging");
    let keyword = rename(&mut lsp, "shop/app.kdep", 7, 8, "template");
    insta::assert_json_snapshot!(
        "lsp_environment_rename",
        json!({"edit": from_block["result"], "references": refs["result"], "clash": clash["error"], "keyword": keyword["error"]})
    );
    lsp.shutdown();

    // A client without change annotations: the plain edit, and the note as a warning message.
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);
    let plain = rename(&mut lsp, "shop/app.kdep", 7, 8, "prod");
    let edits: usize =
        plain["result"]["changes"].as_object().unwrap().values().map(|e| e.as_array().unwrap().len()).sum();
    assert_eq!(edits, 3, "{plain}");
    let message = lsp.notification("window/showMessage");
    assert_eq!(message["type"], 2, "{message}");
    assert_eq!(
        json!(message["message"]),
        from_block["result"]["changeAnnotations"]["kdep.renameEnvironment"]["description"]
    );
    lsp.shutdown();
}

/// Rename of a template (its declaration and the header of every app built from it, in the
/// dependent package too) and of a top-level `let` (its declaration and its uses); refused
/// where another declaration of the module has the name.
#[test]
fn rename_templates_and_lets() {
    let (_tmp, ws, cache) = workspace();
    let app = APP
        .replace("import platform.web\n", "import platform.web\n\nlet base = 3\n")
        .replace("replicas = 3", "replicas = base");
    write(&ws, "shop/app.kdep", &app);
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    lsp.open("platform/web.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);
    let mut rename = |rel: &str, line: u32, character: u32, new_name: &str| {
        let uri = lsp.uri(rel);
        let r = lsp.request(
            "textDocument/rename",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "newName": new_name}),
        );
        lsp.clean(r)
    };
    // `template WebService` (line 4 of web.kdep) and `let base` (line 3 of app.kdep).
    let template = rename("platform/web.kdep", 3, 12, "Service");
    let from_use = rename("shop/app.kdep", 4, 22, "Service");
    assert_eq!(template["result"], from_use["result"]);
    let let_ = rename("shop/app.kdep", 2, 5, "start");
    let clash = rename("shop/app.kdep", 2, 5, "checkout");
    insta::assert_json_snapshot!(
        "lsp_rename_template_and_let",
        json!({"template": template["result"], "let": let_["result"], "clash": clash["error"]})
    );
    lsp.shutdown();
}

/// After an edit the open file's own diagnostics come first and the rest of the package after;
/// what depends on every app comes with the rest and still reaches the open file: a duplicate
/// object made by the edit (K0407, computed over every app) and a platform policy's violation
/// in another file are published as `kdep check` reports them.
#[test]
fn diagnostics_that_read_the_whole_package_follow_an_edit() {
    let (_tmp, ws, cache) = workspace();
    let fixed = APP.replace("    port = 9090\n", "");
    write(&ws, "shop/app.kdep", &fixed);
    write(&ws, "shop/cart.kdep", &fixed.replace("checkout", "cart"));
    write(
        &ws,
        "platform/policies.kdep",
        "import std.policies\n\npolicy labelled = policies.required_labels { params.labels = [\"team\"] }\n",
    );
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    // The policy binds every object: the violation is shown where each app is, as check says.
    let diags = lsp.diagnostics("shop/app.kdep", |d| !d.as_array().unwrap().is_empty());
    assert_eq!(lsp_diagnostics(&diags), check_diagnostics(&ws, "shop", "app.kdep"));
    let cart = lsp.diagnostics("shop/cart.kdep", |d| !d.as_array().unwrap().is_empty());
    assert_eq!(lsp_diagnostics(&cart), check_diagnostics(&ws, "shop", "cart.kdep"));
    assert!(!cart.to_string().contains("K0407"), "{cart}");

    // The edit names app.kdep's objects as cart.kdep's: a duplicate, reported at the app that
    // emits the second object, wherever `check` puts it.
    let clash = fixed.replace("name = \"checkout\"", "name = \"cart\"");
    lsp.change("shop/app.kdep", 2, &clash);
    write(&ws, "shop/app.kdep", &clash);
    let expected = [check_diagnostics(&ws, "shop", "app.kdep"), check_diagnostics(&ws, "shop", "cart.kdep")];
    assert!(expected.iter().flatten().any(|d| d.0 == "K0407"), "{expected:?}");
    let app = lsp.diagnostics("shop/app.kdep", |d| lsp_diagnostics(d) == expected[0]);
    let cart = lsp.diagnostics("shop/cart.kdep", |d| lsp_diagnostics(d) == expected[1]);
    insta::assert_json_snapshot!(
        "lsp_whole_package_diagnostics",
        json!({"app": lsp.clean(app), "cart": lsp.clean(cart)})
    );
    lsp.shutdown();
}

/// A read request whose text is edited while it runs is answered `ContentModified` (-32801):
/// the edit cancels its snapshot (salsa unwinds it), so no answer describes text that is gone.
/// `KDEP_LSP_STALL_ON=hover` makes the hover hold its snapshot until then, and say when it has it.
#[test]
fn an_edit_cancels_a_stale_read() {
    let (_tmp, ws, cache) = workspace();
    let mut lsp = Lsp::start(&ws, &cache, &[("KDEP_LSP_STALL_ON", "hover")]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);
    let uri = lsp.uri("shop/app.kdep");
    let id = lsp.send_request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 5}}),
    );
    let log = lsp.notification("window/logMessage");
    assert!(log["message"].as_str().unwrap().contains("hover holds its snapshot"), "{log}");
    lsp.change("shop/app.kdep", 2, &APP.replace("replicas = 3", "replicas = 4"));
    let r = lsp.response(id);
    assert_eq!(r["error"]["code"], -32801, "{r}");
    // The server goes on: the edit's diagnostics, and a definition on the new text.
    lsp.diagnostics("shop/app.kdep", |d| d.to_string().contains("K0301"));
    let r = lsp.at("textDocument/definition", "shop/app.kdep", 4, 5);
    assert!(r["result"]["uri"].as_str().unwrap().ends_with("platform/web.kdep"), "{r}");
    lsp.shutdown();
}

/// Text typed above a template moves what the editor answers about it: go to definition of a
/// field an app sets lands on the field's new line, and the hover names that line. (The
/// template's HIR is anchored to the template, so its model is not rebuilt; the answers are
/// resolved through the file's anchor table as they leave.)
#[test]
fn answers_follow_text_typed_above_a_template() {
    let (_tmp, ws, cache) = workspace();
    let mut lsp = Lsp::start(&ws, &cache, &[]);
    lsp.initialize();
    lsp.open("shop/app.kdep");
    lsp.open("platform/web.kdep");
    lsp.diagnostics("shop/app.kdep", |_| true);
    let line = |r: &Value| r["result"]["range"]["start"]["line"].as_u64();
    // `replicas` in the app body; declared on line 7 (0-based 6) of platform/web.kdep.
    let before = lsp.at("textDocument/definition", "shop/app.kdep", 4, 5);
    assert!(before["result"]["uri"].as_str().unwrap().ends_with("platform/web.kdep"), "{before}");
    assert_eq!(line(&before), Some(6), "{before}");

    let moved =
        PLATFORM.replace("import std.workloads\n", "import std.workloads\n// The platform.\n// Its templates.\n");
    lsp.change("platform/web.kdep", 2, &moved);
    lsp.diagnostics("platform/web.kdep", |_| true);
    let after = lsp.at("textDocument/definition", "shop/app.kdep", 4, 5);
    assert_eq!(line(&after), Some(8), "{after}");
    assert_eq!(after["result"]["range"]["start"]["character"], before["result"]["range"]["start"]["character"]);
    let hover = lsp.at("textDocument/hover", "shop/app.kdep", 4, 5);
    let text = hover["result"]["contents"]["value"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("web.kdep:9`"), "{hover}");
    // Definition from inside the moved template: `name` in its `emit` is the field on line 8.
    let inside = lsp.at("textDocument/definition", "platform/web.kdep", 15, 25);
    assert_eq!(line(&inside), Some(7), "{inside}");
    lsp.shutdown();
}
