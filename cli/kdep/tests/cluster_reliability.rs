//! Bad credentials and slow webhooks: each is a clear error with exit 2, and nothing in the
//! cluster changed (the emulator's request log has no write).
//!
//! Attacks: a kubeconfig whose certificate authority is not the server's (TLS stays on), a
//! token the server refuses, an exec credential plugin handing out an expired token, and a
//! webhook that accepts the connection and never answers.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; YAML is read with `serde_yaml::Value[key]`, which yields Null"
)]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;

use common::cluster::{flat, Writes, DEV, TEMPLATES};
use kdep_tests::cluster::{Cluster, Options};
use serde_yaml::Value;

/// The cluster under test (the emulator, or `KDEP_TEST_CLUSTER`'s) with namespace `demo`,
/// and a mark to find the writes made after it.
fn start() -> (Cluster, Writes) {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let writes = Writes::since_now(&cluster);
    (cluster, writes)
}

fn package() -> tempfile::TempDir {
    common::cluster::package(DEV, TEMPLATES, "app a = templates.Config { name = \"a\", data = { k = \"v\" } }\n")
}

fn kdep(kubeconfig: &Path, dir: &Path, args: &[&str]) -> common::Run {
    common::kdep_with(dir, args, |c| {
        c.env("KUBECONFIG", kubeconfig);
    })
}

/// The cluster's kubeconfig with `edit` applied to its single cluster and user, written to `dir`.
fn kubeconfig_with(cluster: &Cluster, dir: &Path, edit: impl FnOnce(&mut Value, &mut Value)) -> std::path::PathBuf {
    let mut kc: Value = serde_yaml::from_str(&std::fs::read_to_string(cluster.kubeconfig()).unwrap()).unwrap();
    let mut cl = kc["clusters"][0]["cluster"].clone();
    let mut user = kc["users"][0]["user"].clone();
    edit(&mut cl, &mut user);
    kc["clusters"][0]["cluster"] = cl;
    kc["users"][0]["user"] = user;
    let path = dir.join("kubeconfig-edited");
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

/// A CA certificate that did not sign the emulator's serving certificate: another run's.
fn foreign_ca() -> String {
    let other = Cluster::start_with(Options::default()).unwrap();
    let kc: Value = serde_yaml::from_str(&std::fs::read_to_string(other.kubeconfig()).unwrap()).unwrap();
    kc["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap().to_owned()
}

#[test]
fn a_wrong_certificate_authority_stops_before_any_request_is_served() {
    let (cluster, writes) = start();
    let pkg = package();
    let ca = foreign_ca();
    let kc = kubeconfig_with(&cluster, pkg.path(), |cl, _| {
        cl["certificate-authority-data"] = Value::from(ca);
    });
    for cmd in ["apply", "diff", "drift"] {
        let r = kdep(&kc, pkg.path(), &[cmd, "--env", "dev", "--wait=false"][..if cmd == "apply" { 4 } else { 3 }]);
        assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
        let text = flat(&r.stderr);
        assert!(text.contains("certificate"), "{cmd}: {text}");
        assert!(text.contains("not trusted by the kubeconfig's certificate-authority"), "{cmd}: {text}");
        assert!(text.contains("TLS verification stays on"), "{cmd}: {text}");
    }
    if cluster.is_emulated() {
        assert!(cluster.request_log().unwrap().is_empty(), "a request got through TLS");
    } else {
        assert_eq!(writes.list(&cluster), Vec::<String>::new());
    }
}

#[test]
fn a_refused_token_is_exit_2_before_anything_is_changed() {
    let (cluster, writes) = start();
    let pkg = package();
    // The whole user replaced: a real cluster's kubeconfig may authenticate with a client
    // certificate, which would still be accepted beside a wrong token.
    let kc = kubeconfig_with(&cluster, pkg.path(), |_, user| {
        *user = serde_yaml::from_str("token: not-the-token").unwrap();
    });
    let r = kdep(&kc, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let text = flat(&r.stderr);
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("the credentials of this kubeconfig context were refused"), "{text}");
    assert_eq!(writes.list(&cluster), Vec::<String>::new());
    assert!(cluster.get("v1", "ConfigMap", Some("demo"), "a").unwrap().is_none());
}

#[test]
fn an_expired_token_from_an_exec_plugin_is_exit_2_before_anything_is_changed() {
    let (cluster, writes) = start();
    let pkg = package();
    // An exec credential plugin (client.authentication.k8s.io) whose token has expired: the
    // server refuses it as it refuses any expired token.
    let plugin = pkg.path().join("expired-credential");
    std::fs::write(
        &plugin,
        "#!/bin/sh\ncat <<'JSON'\n{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{\"token\":\"expired-token\",\"expirationTimestamp\":\"2020-01-01T00:00:00Z\"}}\nJSON\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let plugin_path = plugin.to_str().unwrap().to_owned();
    let kc = kubeconfig_with(&cluster, pkg.path(), |_, user| {
        *user = serde_yaml::from_str(&format!(
            "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: {plugin_path}\n  interactiveMode: Never\n"
        ))
        .unwrap();
    });
    let r = kdep(&kc, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let text = flat(&r.stderr);
    assert!(text.contains("401") || text.contains("expired"), "{text}");
    assert_eq!(writes.list(&cluster), Vec::<String>::new());
}

/// A webhook that accepts connections and never answers.
fn silent_webhook() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            held.push(s);
        }
    });
    url
}

#[test]
fn a_webhook_that_never_answers_is_an_error_after_the_work_is_done() {
    let (cluster, writes) = start();
    let pkg = package();
    let url = silent_webhook();
    // plan: the plan is written, then the notification times out.
    let r = kdep(cluster.kubeconfig(), pkg.path(), &["plan", "--env", "dev", "--out", "plan.json", "--notify", &url]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let text = flat(&r.stderr);
    assert!(text.contains("the plan was written to plan.json, but notifying http://127.0.0.1:"), "{text}");
    assert!(text.contains("failed: no answer within 10 s"), "{text}");
    assert!(text.contains("answers within 10 s"), "{text}");
    assert!(pkg.path().join("plan.json").exists());
    // drift: the report is printed, then the alert times out.
    let r = kdep(cluster.kubeconfig(), pkg.path(), &["drift", "--env", "dev", "--webhook", &url]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout.lines().next(), Some("- missing ConfigMap demo/a"), "{}", r.stdout);
    let text = flat(&r.stderr);
    assert!(text.contains("drift was found, but notifying http://127.0.0.1:"), "{text}");
    assert!(text.contains("failed: no answer within 10 s"), "{text}");
    assert_eq!(writes.list(&cluster), Vec::<String>::new());
}
