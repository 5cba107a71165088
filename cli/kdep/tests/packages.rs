//! Packages from git and OCI registries, end to end: the real `kdep` binary against a real
//! registry (Debian's `docker-registry`, started here on 127.0.0.1: open, with basic auth, with
//! TLS from a private CA, and with bearer tokens from a token server this file runs), credential
//! helper scripts, and real git repositories (`file://`). Nothing is mocked.
//! `tests/registry/setup.sh` installs the registry, `htpasswd`, openssl and git.
#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "a failing test should stop at once")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A sandbox: its own cache and auth file, packages in a temporary folder.
struct Env {
    dir: tempfile::TempDir,
    cache: PathBuf,
    auth_file: Option<PathBuf>,
    /// More environment variables for every run.
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        Env { dir, cache, auth_file: None, vars: Vec::new() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn kdep(&self, cwd: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kdep"));
        cmd.args(args)
            .current_dir(self.path(cwd))
            .env("NO_COLOR", "1")
            .env("KDEP_CACHE", &self.cache)
            // No credentials of the machine's user leak in.
            .env("REGISTRY_AUTH_FILE", self.auth_file.clone().unwrap_or_else(|| self.path("no-auth.json")))
            .env_remove("KDEP_REGISTRY_PLAIN_HTTP")
            .env_remove("KDEP_REGISTRY_CA")
            .env_remove("RUST_BACKTRACE")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = cmd.output().expect("kdep runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A package folder with a `kdep.toml` and one template module.
    fn package(&self, rel: &str, name: &str, version: &str, extra: &str, value: &str) {
        self.write(
            &format!("{rel}/kdep.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n{extra}"),
        );
        self.write(
            &format!("{rel}/web.kdep"),
            &format!(
                "template Web {{\n    name: string\n    emit {{\n        apiVersion = \"v1\"\n        kind = \"ConfigMap\"\n        metadata = {{ name = name }}\n        data = {{ value = \"{value}\" }}\n    }}\n}}\n"
            ),
        );
    }

    /// The consumer package `shop` with one app built from `platform.web.Web`.
    fn shop(&self, dependency: &str) {
        self.write(
            "shop/kdep.toml",
            &format!("[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = {dependency}\n"),
        );
        self.write("shop/app.kdep", "import platform.web\n\napp checkout = web.Web {\n    name = \"checkout\"\n}\n");
    }
}

/// `docker-registry` on a free port of 127.0.0.1, stopped when dropped.
struct Registry {
    child: Child,
    addr: String,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        Registry::start_with(htpasswd, None)
    }

    /// With `tls = Some((certificate, key))`, the registry serves HTTPS only.
    fn start_with(htpasswd: Option<(&str, &str)>, tls: Option<(&Path, &Path)>) -> Registry {
        let mut extra = String::new();
        if let Some((cert, key)) = tls {
            extra.push_str(&format!("tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
        }
        Registry::start_inner(htpasswd, &extra, "")
    }

    /// With more top-level configuration (an `auth:` section).
    fn start_configured(config: &str) -> Registry {
        Registry::start_inner(None, "", config)
    }

    /// `http_extra` goes under `http:` (indented by the caller after its first line),
    /// `top_extra` at the top level.
    fn start_inner(htpasswd: Option<(&str, &str)>, http_extra: &str, top_extra: &str) -> Registry {
        assert!(
            Command::new("docker-registry").arg("--version").output().is_ok(),
            "docker-registry is not installed: run tests/registry/setup.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let root = dir.path().join("data");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            root.display()
        );
        if !http_extra.is_empty() {
            config.push_str("  ");
            config.push_str(http_extra);
        }
        config.push_str(top_extra);
        if let Some((user, password)) = htpasswd {
            let file = dir.path().join("htpasswd");
            // bcrypt, the only scheme the registry accepts.
            let out = Command::new("htpasswd").args(["-Bbc"]).arg(&file).args([user, password]).output().unwrap();
            assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: kdep-test\n    path: {}\n", file.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so any panic below stops the registry (`Drop`).
        let registry = Registry { child, addr, root, _dir: dir };
        // Wait until it accepts connections (bounded: 500 tries, 20 ms apart).
        for _ in 0..500 {
            if std::net::TcpStream::connect(&registry.addr).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("docker-registry did not start on {}", registry.addr);
    }

    /// The registry's file of a blob, for tampering.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root.join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces what varies between runs (ports, temporary folders) in output.
fn stable(text: &str, env: &Env, registry: Option<&Registry>) -> String {
    let mut out = text.replace(&env.dir.path().display().to_string(), "[TMP]");
    if let Some(r) = registry {
        out = out.replace(&r.addr, "[REGISTRY]");
    }
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn lock(env: &Env) -> String {
    std::fs::read_to_string(env.path("shop/kdep.lock")).unwrap_or_default()
}

#[test]
fn publish_resolve_lock_update_and_offline_build() {
    let env = Env::new();
    let reg = Registry::start(None);
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "changelog = \"First release\"\n", "one");
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("publish_1_0_0", stable(&r.stdout, &env, Some(&reg)));
    // Same sources, same digest: publishing again is a no-op, not an overwrite.
    let again = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already published"), "{}", again.stdout);

    // The consumer resolves `^1.0` to 1.0.0 and locks its digest and checksum.
    env.shop(&format!("{{ oci = \"{repo}\", version = \"^1.0\" }}"));
    let build = env.kdep("shop", &["build"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(build.stdout.contains("value: one"), "{}", build.stdout);
    insta::assert_snapshot!("lock_1_0_0", stable(&lock(&env), &env, Some(&reg)));

    // 1.1.0 is published (with different content), and changing the content of a published
    // version is refused.
    env.package("platform", "platform", "1.0.0", "", "changed");
    let overwrite = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(overwrite.code, 1);
    insta::assert_snapshot!("publish_overwrite_refused", stable(&overwrite.stderr, &env, Some(&reg)));
    env.package("platform", "platform", "1.1.0", "changelog = \"Web: value two\"\n", "two");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.1.0"]).code, 0);

    // The lock keeps 1.0.0 until `kdep mod update`, which prints the change and its effect.
    let build = env.kdep("shop", &["build"]);
    assert!(build.stdout.contains("value: one"), "{}", build.stdout);
    let update = env.kdep("shop", &["mod", "update"]);
    assert_eq!(update.code, 0, "{}", update.stderr);
    insta::assert_snapshot!("update_stdout", stable(&update.stdout, &env, Some(&reg)));
    assert!(lock(&env).contains("version = \"1.1.0\""));
    let build = env.kdep("shop", &["build", "--locked"]);
    assert!(build.stdout.contains("value: two"), "{}", build.stdout);

    // The same for CI, as JSON, updating one dependency by name.
    env.package("platform", "platform", "1.2.0", "changelog = \"Web: value three\"\n", "three");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.2.0"]).code, 0);
    let update = env.kdep("shop", &["mod", "update", "platform", "--json"]);
    assert_eq!(update.code, 0, "{}", update.stderr);
    insta::assert_snapshot!("update_json", stable(&update.stdout, &env, Some(&reg)));
    let unknown = env.kdep("shop", &["mod", "update", "nope"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("`nope` is not a git or OCI dependency"), "{}", unknown.stderr);

    // Offline: from the cache without the registry; with an empty cache, a clear error.
    drop(reg);
    let offline = env.kdep("shop", &["build", "--offline", "--locked"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    let lock_before = lock(&env);
    std::fs::remove_dir_all(&env.cache).unwrap();
    let missing = env.kdep("shop", &["build", "--offline"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("[K0701]") && missing.stderr.contains("is not in the cache"), "{}", missing.stderr);
    // Without the registry, fetching fails naming the dependency and its source.
    let unreachable = env.kdep("shop", &["build"]);
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable.stderr.contains("[K0703]") && unreachable.stderr.contains("cannot reach registry"),
        "{}",
        unreachable.stderr
    );
    assert_eq!(lock(&env), lock_before, "a failed fetch leaves the lock alone");
}

#[test]
fn bad_versions_tampering_and_vendor() {
    let env = Env::new();
    let reg = Registry::start(None);
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "", "one");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]).code, 0);

    // A range no version satisfies, an unknown repository.
    env.shop(&format!("{{ oci = \"{repo}\", version = \"^2\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("no_matching_version", stable(&r.stderr, &env, Some(&reg)));
    assert!(!env.path("shop/kdep.lock").exists(), "no lock from a failed resolution");
    // An exact version that was never published.
    env.shop(&format!("{{ oci = \"{repo}\", version = \"=1.0.1\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    assert!(
        stable(&r.stderr, &env, Some(&reg)).contains(
            "no version of `platform` (oci [REGISTRY]/kdep/platform =1.0.1) satisfies `=1.0.1`; published: 1.0.0"
        ),
        "{}",
        r.stderr
    );
    assert!(!env.path("shop/kdep.lock").exists() && !env.cache.join("src").exists());
    env.shop(&format!("{{ oci = \"{}/kdep/nothing\", version = \"=1.0.0\" }}", reg.addr));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("unknown_repository", stable(&r.stderr, &env, Some(&reg)));

    // Tampered cache: the loader re-hashes and names both checksums.
    env.shop(&format!("{{ oci = \"{repo}\", version = \"=1.0.0\" }}"));
    assert_eq!(env.kdep("shop", &["build"]).code, 0);
    let src = std::fs::read_dir(env.cache.join("src")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(src.join("web.kdep"), "template Web { name: string }\n").unwrap();
    let r = env.kdep("shop", &["build", "--offline"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("[K0702]") && r.stderr.contains("kdep.lock has sha256:"), "{}", r.stderr);

    // Vendor: every dependency copied into the package; an empty cache still builds offline.
    std::fs::remove_dir_all(&env.cache).unwrap();
    let v = env.kdep("shop", &["mod", "vendor"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    std::fs::remove_dir_all(&env.cache).unwrap();
    let r = env.kdep("shop", &["build", "--offline", "--locked"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::remove_dir_all(env.path("shop/vendor")).unwrap();

    // Tampered registry blob: the download does not match its digest.
    let lock_text = lock(&env);
    let manifest_digest =
        lock_text.lines().find_map(|l| l.strip_prefix("resolved = \"")).unwrap().trim_end_matches('"');
    let manifest = std::fs::read(reg.blob_file(manifest_digest)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    std::fs::write(reg.blob_file(layer), b"not the package").unwrap();
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not match its digest"), "{}", r.stderr);
    assert_eq!(lock(&env), lock_text);
}

#[test]
fn git_dependencies_by_tag_and_rev() {
    let env = Env::new();
    env.package("gitpkg", "platform", "0.3.0", "", "from-git");
    let repo = env.path("gitpkg");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    git(&repo, &["tag", "v0.3.0"]);
    let url = format!("file://{}", repo.display());
    env.shop(&format!("{{ git = \"{url}\", tag = \"v0.3.0\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("value: from-git"));
    insta::assert_snapshot!("git_lock", stable(&lock(&env), &env, None));

    // The same commit by an abbreviated `rev`: locked to the full commit id.
    let commit =
        lock(&env).lines().find_map(|l| l.strip_prefix("resolved = \"")).unwrap().trim_end_matches('"').to_owned();
    env.shop(&format!("{{ git = \"{url}\", rev = \"{}\" }}", &commit[..10]));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        lock(&env).contains(&format!("reference = \"rev {}\"\nresolved = \"{commit}\"", &commit[..10])),
        "{}",
        lock(&env)
    );

    let lock_before = lock(&env);
    let cached_before = std::fs::read_dir(env.cache.join("src")).unwrap().count();
    env.shop(&format!("{{ git = \"{url}\", tag = \"v9\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("git_missing_tag", stable(&r.stderr, &env, None));
    // A revision that does not exist either; the lock and the cache are as they were.
    env.shop(&format!("{{ git = \"{url}\", rev = \"{}\" }}", "0".repeat(40)));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(&format!("revision `{}` does not exist in `{url}`", "0".repeat(40))), "{}", r.stderr);
    assert_eq!(lock(&env), lock_before);
    assert_eq!(std::fs::read_dir(env.cache.join("src")).unwrap().count(), cached_before);
}

#[test]
fn basic_auth_from_the_auth_file() {
    let mut env = Env::new();
    let reg = Registry::start(Some(("kdep", "s3cret")));
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "", "one");
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("auth_required", stable(&r.stderr, &env, Some(&reg)));

    // Podman's/Docker's format: `auths.<registry>.auth` is base64 of `user:password`.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("kdep:s3cret");
    env.write("auth.json", &format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}", reg.addr));
    env.auth_file = Some(env.path("auth.json"));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.shop(&format!("{{ oci = \"{repo}\", version = \"1\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let wrong = base64::engine::general_purpose::STANDARD.encode("kdep:wrong");
    env.write("auth.json", &format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{wrong}\"}}}}}}", reg.addr));
    std::fs::remove_dir_all(&env.cache).unwrap();
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tls_with_a_private_ca() {
    let mut env = Env::new();
    // A CA and a server certificate for 127.0.0.1 signed by it, as a company registry has.
    let pki = env.path("pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=kdep test CA",
        ],
    );
    openssl(
        &pki,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"],
    );
    std::fs::write(
        pki.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &pki,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let reg = Registry::start_with(None, Some((&pki.join("leaf.pem"), &pki.join("leaf.key"))));
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "", "one");
    // Loopback gets plain HTTP by default; `never` makes kdep speak TLS to it.
    env.vars.push(("KDEP_REGISTRY_PLAIN_HTTP".into(), "never".into()));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 1, "an unknown CA is refused: {}", r.stdout);
    assert!(r.stderr.contains("cannot reach registry") && r.stderr.contains("UnknownIssuer"), "{}", r.stderr);
    env.vars.push(("KDEP_REGISTRY_CA".into(), pki.join("ca.pem").display().to_string()));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.shop(&format!("{{ oci = \"{repo}\", version = \"1.0\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("value: one"));
}

#[test]
fn a_dependency_cycle_across_git_and_oci_is_an_error() {
    let env = Env::new();
    let reg = Registry::start(None);
    let repo = format!("{}/kdep/platform", reg.addr);
    // platform 1.0.0 has no dependencies; `lib` (git) depends on platform ^1; platform 1.1.0
    // depends on lib. A consumer of platform 1.1.0 closes the circle through both sources.
    env.package("platform", "platform", "1.0.0", "", "one");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]).code, 0);
    env.package(
        "lib",
        "lib",
        "0.1.0",
        &format!("[dependencies]\nplatform = {{ oci = \"{repo}\", version = \"^1\" }}\n"),
        "lib",
    );
    let lib = env.path("lib");
    git(&lib, &["init", "-q", "-b", "main"]);
    git(&lib, &["add", "kdep.toml", "web.kdep"]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    git(&lib, &["tag", "v1"]);
    let url = format!("file://{}", lib.display());
    env.package(
        "platform",
        "platform",
        "1.1.0",
        &format!("[dependencies]\nlib = {{ git = \"{url}\", tag = \"v1\" }}\n"),
        "two",
    );
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.1.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    env.shop(&format!("{{ oci = \"{repo}\", version = \"=1.1.0\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = stable(&r.stderr, &env, Some(&reg));
    assert!(
        err.contains(&"dependency cycle: platform 1.1.0 (oci+[REGISTRY]/kdep/platform) → lib 0.1.0 (git+file://[TMP]/lib) → platform 1.1.0 (oci+[REGISTRY]/kdep/platform)".to_string()),
        "{err}"
    );
    assert!(!env.path("shop/kdep.lock").exists());
}

#[test]
fn a_corrupt_archive_is_refused_and_nothing_is_cached() {
    let env = Env::new();
    let reg = Registry::start(None);
    let reference = kdep_pkg::oci::Reference::parse(&format!("{}/kdep/broken", reg.addr)).unwrap();
    // A well-formed artifact whose layer (with a correct digest) is not a tar.gz.
    let mut client = kdep_pkg::oci::Client::new();
    let config = client.push_blob(&reference, b"{}").unwrap();
    let garbage = b"this is not a gzip stream".to_vec();
    let layer = client.push_blob(&reference, &garbage).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": kdep_pkg::oci::MANIFEST_MEDIA_TYPE,
        "artifactType": kdep_pkg::oci::ARTIFACT_TYPE,
        "config": { "mediaType": kdep_pkg::oci::EMPTY_CONFIG_MEDIA_TYPE, "digest": config, "size": 2 },
        "layers": [{ "mediaType": kdep_pkg::oci::LAYER_MEDIA_TYPE, "digest": layer, "size": garbage.len() }],
    });
    client.push_manifest(&reference, "1.0.0", &serde_json::to_vec(&manifest).unwrap()).unwrap();

    env.shop(&format!("{{ oci = \"{reference}\", version = \"1\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    let err = stable(&r.stderr, &env, Some(&reg));
    assert!(
        err.contains("[K0703] Error: dependency `platform` from `[REGISTRY]/kdep/broken`: corrupt package archive"),
        "{err}"
    );
    assert!(!env.path("shop/kdep.lock").exists());
    let cached = std::fs::read_dir(env.cache.join("src")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(cached, 0, "nothing half-fetched is left in the cache");
}

#[test]
fn git_dependencies_from_folders_of_one_repository() {
    let env = Env::new();
    // A monorepo with two packages, each in its own folder, and a README at its root.
    env.package("mono/platform", "platform", "2.0.0", "", "from-platform-folder");
    env.package("mono/tools", "tools", "0.4.0", "", "from-tools-folder");
    env.write("mono/README.md", "two packages\n");
    let repo = env.path("mono");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    git(&repo, &["tag", "v2"]);
    let url = format!("file://{}", repo.display());
    env.write(
        "shop/kdep.toml",
        &format!(
            "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n\n[dependencies]\n\
             platform = {{ git = \"{url}\", tag = \"v2\", path = \"platform\" }}\n\
             tools = {{ git = \"{url}\", tag = \"v2\", path = \"tools/\" }}\n"
        ),
    );
    env.write(
        "shop/app.kdep",
        "import platform.web\nimport tools.web as tw\n\napp checkout = web.Web {\n    name = \"checkout\"\n}\n\napp admin = tw.Web {\n    name = \"admin\"\n}\n",
    );
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("value: from-platform-folder") && r.stdout.contains("value: from-tools-folder"));
    // Each folder is its own source in the lock (`?path=`), both at the one commit of the tag,
    // with the checksum of that folder's files only.
    insta::assert_snapshot!("git_subfolder_lock", stable(&lock(&env), &env, None));
    // Offline from the cache: each folder has its own content-addressed entry.
    assert_eq!(std::fs::read_dir(env.cache.join("src")).unwrap().count(), 2);
    let r = env.kdep("shop", &["build", "--offline", "--locked"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A folder the tag does not have, and one that would leave the repository.
    env.shop(&format!("{{ git = \"{url}\", tag = \"v2\", path = \"billing\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("git_subfolder_missing", stable(&r.stderr, &env, None));
    env.shop(&format!("{{ git = \"{url}\", tag = \"v2\", path = \"../etc\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("git dependency `platform`: `../etc` is not a folder inside the repository"),
        "{}",
        r.stderr
    );
}

#[test]
fn impact_shows_what_a_dependency_upgrade_changes() {
    let env = Env::new();
    let reg = Registry::start(None);
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "", "one");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]).code, 0);

    // The team repository: two environments, one app on the platform's template and one of its
    // own; committed with its lock at 1.0.0.
    env.shop(&format!("{{ oci = \"{repo}\", version = \"^1\" }}"));
    env.write(
        "shop/own.kdep",
        "template Status {\n    emit {\n        apiVersion = \"v1\"\n        kind = \"ConfigMap\"\n        metadata = { name = \"status\" }\n    }\n}\n\napp status = Status {}\n",
    );
    env.write(
        "shop/environments.kdep",
        "environment staging { context = \"staging\", namespace = \"shop-staging\" }\nenvironment production { context = \"prod\", namespace = \"shop\" }\n",
    );
    let r = env.kdep("shop", &["build", "--env", "staging"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shop = env.path("shop");
    git(&shop, &["init", "-q", "-b", "main"]);
    git(&shop, &["add", "."]);
    git(&shop, &["commit", "-q", "-m", "platform 1.0.0"]);

    env.package("platform", "platform", "1.1.0", "changelog = \"Web: value two\"\n", "two");
    assert_eq!(env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.1.0"]).code, 0);
    let update = env.kdep("shop", &["mod", "update"]);
    assert_eq!(update.code, 0, "{}", update.stderr);
    assert!(lock(&env).contains("version = \"1.1.0\""));

    // The cache is emptied so the base's 1.0.0 has to be fetched again: the base revision is
    // built from its own lock, not the working tree's.
    std::fs::remove_dir_all(&env.cache).unwrap();
    assert_eq!(env.kdep("shop", &["build", "--env", "staging"]).code, 0);
    let offline = env.kdep("shop", &["impact", "--offline"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    // Offline, the base's 1.0.0 is not in the cache: the base does not build, and stderr says
    // why (the working tree's 1.1.0 is never used for it).
    assert!(offline.stdout.contains("(the base revision does not build here"), "{}", offline.stdout);
    assert!(
        stable(&offline.stderr, &env, Some(&reg)).contains(
            "warning: base revision: [K0701] dependency `platform` (oci [REGISTRY]/kdep/platform ^1 = 1.0.0 sha256:"
        ) && offline.stderr.contains("is not in the cache"),
        "{}",
        offline.stderr
    );
    let r = env.kdep("shop", &["impact"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The commit's id depends on the registry's port, which is in the committed lock.
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(&shop).output().unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    insta::assert_snapshot!(
        "impact_after_update",
        stable(&r.stdout, &env, Some(&reg)).replace(head.trim(), "[COMMIT]")
    );
    assert!(r.stderr.contains("fetched platform 1.0.0"), "{}", r.stderr);
    let json = env.kdep("shop", &["impact", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    // For CI: per environment the changed objects and their apps; `status` (not built from the
    // platform) is unchanged everywhere.
    let changed: Vec<(String, String)> = report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |o| (e["name"].as_str().unwrap().to_owned(), format!("{} {}", o["change"], o["app"])))
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("production".to_owned(), "\"changed\" \"checkout\"".to_owned()),
            ("staging".to_owned(), "\"changed\" \"checkout\"".to_owned())
        ]
    );
    let apps: Vec<(&str, bool)> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["changed"] == true))
        .collect();
    assert_eq!(apps, [("checkout", true), ("status", false)]);
}

/// An executable `docker-credential-<name>` script in `dir`, as credential helpers are installed.
fn credential_helper(dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Env {
    /// Credentials come from Docker's `config.json` in `$DOCKER_CONFIG` (no REGISTRY_AUTH_FILE,
    /// no Podman file of the machine's user), and helpers from `bin/` first on PATH.
    fn docker_config(&mut self, config: &str) {
        self.write("docker/config.json", config);
        self.auth_file = Some(PathBuf::new());
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        self.vars
            .retain(|(k, _)| !matches!(k.as_str(), "DOCKER_CONFIG" | "XDG_RUNTIME_DIR" | "XDG_CONFIG_HOME" | "PATH"));
        self.vars.extend([
            ("DOCKER_CONFIG".to_owned(), self.path("docker").display().to_string()),
            ("XDG_RUNTIME_DIR".to_owned(), self.path("run").display().to_string()),
            ("XDG_CONFIG_HOME".to_owned(), self.path("config").display().to_string()),
            ("PATH".to_owned(), path),
        ]);
    }
}

#[test]
fn credential_helpers_from_the_docker_config() {
    let mut env = Env::new();
    let reg = Registry::start(Some(("kdep", "s3cret")));
    let repo = format!("{}/kdep/platform", reg.addr);
    env.package("platform", "platform", "1.0.0", "", "one");
    // The helper answers Docker's protocol: the registry on stdin, JSON on stdout; it logs what
    // it was asked, so the test sees kdep asked for exactly this registry.
    let log = env.path("helper.log");
    credential_helper(
        &env.path("bin"),
        "kdeptest",
        &format!(
            "[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"kdep\",\"Secret\":\"s3cret\"}}' \"$server\"\n",
            log.display()
        ),
    );
    env.docker_config(&format!("{{\"credHelpers\": {{\"{}\": \"kdeptest\"}}}}", reg.addr));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(!asked.is_empty() && asked.lines().all(|l| l == reg.addr), "{asked}");

    // `credsStore` (the default helper for every registry) is used the same way.
    env.docker_config("{\"credsStore\": \"kdeptest\"}");
    env.shop(&format!("{{ oci = \"{repo}\", version = \"1\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A helper that fails: its own words, its exit code, the registry; nothing cached or locked.
    credential_helper(&env.path("bin"), "broken", "echo 'the keychain is locked' >&2\nexit 1\n");
    env.docker_config(&format!("{{\"credHelpers\": {{\"{}\": \"broken\"}}}}", reg.addr));
    std::fs::remove_dir_all(&env.cache).unwrap();
    std::fs::remove_file(env.path("shop/kdep.lock")).unwrap();
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("credential_helper_fails", stable(&r.stderr, &env, Some(&reg)));
    assert!(!env.path("shop/kdep.lock").exists());

    // A helper that is not installed.
    env.docker_config(&format!("{{\"credHelpers\": {{\"{}\": \"missing\"}}}}", reg.addr));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("credential_helper_missing", stable(&r.stderr, &env, Some(&reg)));

    // A helper without an entry for the registry (the protocol's "credentials not found") means
    // anonymous access, as in Docker: this registry then asks for credentials.
    credential_helper(&env.path("bin"), "empty", "echo 'credentials not found in native keychain'\nexit 1\n");
    env.docker_config("{\"credsStore\": \"empty\"}");
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("requires authentication and no credentials for it were found"), "{}", r.stderr);
}

/// What the token server signs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenMode {
    /// Valid tokens, per the policy in [`TokenServer::grant`].
    Good,
    /// Tokens that expired an hour ago.
    Expired,
    /// Tokens signed by a key the registry does not trust.
    Untrusted,
}

/// A token server for the registry's `auth: token` (the Docker registry token flow): it reads
/// Basic credentials and the asked scopes, and answers a JWT (ES256, the signing certificate
/// in `x5c`) whose `access` is what the policy grants. Every request is logged as
/// `user scope -> granted actions`.
struct TokenServer {
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    realm: String,
    mode: std::sync::Arc<std::sync::Mutex<TokenMode>>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A P-256 key and a self-signed certificate for it (PEM files in `dir`).
fn signing_pair(dir: &Path, name: &str) -> (Vec<u8>, String) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let key = std::fs::read(dir.join(format!("{name}.key"))).unwrap();
    // x5c is the certificate's DER in standard base64: the PEM body without its armour.
    let pem = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    (key, der_b64)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

impl TokenServer {
    const SERVICE: &'static str = "kdep-test-registry";
    const ISSUER: &'static str = "kdep-test-issuer";

    /// Who gets what: `kdep:s3cret` may pull and push everything except `kdep/secret`, which
    /// nobody may push; anyone may pull.
    fn grant(user: Option<&str>, repository: &str, asked: &[&str]) -> Vec<String> {
        asked
            .iter()
            .filter(|a| match **a {
                "pull" => true,
                "push" => user == Some("kdep") && repository != "kdep/secret",
                _ => false,
            })
            .map(|a| (*a).to_owned())
            .collect()
    }

    fn start(dir: &Path) -> (TokenServer, PathBuf) {
        let (key, x5c) = signing_pair(dir, "token");
        let (untrusted_key, untrusted_x5c) = signing_pair(dir, "untrusted");
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let mode = std::sync::Arc::new(std::sync::Mutex::new(TokenMode::Good));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, m, l) = (server.clone(), mode.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let (status, body) = TokenServer::answer(
                    &request,
                    *m.lock().unwrap(),
                    &l,
                    (&key, &x5c),
                    (&untrusted_key, &untrusted_x5c),
                );
                let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
            }
        });
        let token =
            TokenServer { server, thread: Some(thread), realm: format!("http://127.0.0.1:{port}/token"), mode, log };
        (token, dir.join("token.pem"))
    }

    fn answer(
        request: &tiny_http::Request,
        mode: TokenMode,
        log: &std::sync::Mutex<Vec<String>>,
        good: (&[u8], &str),
        untrusted: (&[u8], &str),
    ) -> (u16, String) {
        use base64::Engine as _;
        let user = request.headers().iter().find(|h| h.field.equiv("Authorization")).and_then(|h| {
            let encoded = h.value.as_str().strip_prefix("Basic ")?;
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            let (user, password) =
                String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
            Some((user, password))
        });
        let user = match user {
            Some((u, p)) if u == "kdep" && p == "s3cret" => Some(u),
            Some((u, _)) => {
                log.lock().unwrap().push(format!("{u} (wrong password) -> 401"));
                return (401, "{\"details\":\"wrong password\"}".into());
            }
            None => None,
        };
        let query = request.url().split_once('?').map_or("", |(_, q)| q).to_owned();
        let mut access = Vec::new();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            if k != "scope" {
                continue;
            }
            let scope = percent_decode(v);
            let parts: Vec<&str> = scope.splitn(3, ':').collect();
            let [kind, name, actions] = parts[..] else { continue };
            let granted = TokenServer::grant(user.as_deref(), name, &actions.split(',').collect::<Vec<_>>());
            log.lock().unwrap().push(format!(
                "{} {scope} -> {}",
                user.as_deref().unwrap_or("anonymous"),
                if granted.is_empty() { "nothing".to_owned() } else { granted.join(",") }
            ));
            access.push(serde_json::json!({ "type": kind, "name": name, "actions": granted }));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let (exp, (key, x5c)) = match mode {
            TokenMode::Good => (now + 300, good),
            TokenMode::Expired => (now - 3600, good),
            TokenMode::Untrusted => (now + 300, untrusted),
        };
        let claims = serde_json::json!({
            "iss": TokenServer::ISSUER,
            "sub": user.clone().unwrap_or_default(),
            "aud": TokenServer::SERVICE,
            "exp": exp,
            "nbf": now - 7200,
            "iat": now - 7200,
            "jti": format!("{now}-{}", access.len()),
            "access": access,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.x5c = Some(vec![x5c.to_owned()]);
        let jwt =
            jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_pem(key).unwrap()).unwrap();
        (200, serde_json::json!({ "token": jwt, "expires_in": 300 }).to_string())
    }

    fn set_mode(&self, mode: TokenMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The requests since the last call.
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Registry {
    /// A registry that takes bearer tokens from `token` (its certificate in `bundle`).
    fn start_with_tokens(token: &TokenServer, bundle: &Path) -> Registry {
        Registry::start_configured(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            token.realm,
            TokenServer::SERVICE,
            TokenServer::ISSUER,
            bundle.display()
        ))
    }
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let mut env = Env::new();
    let pki = env.path("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let (token, bundle) = TokenServer::start(&pki);
    let reg = Registry::start_with_tokens(&token, &bundle);
    let repo = format!("{}/kdep/platform", reg.addr);
    let shown = |text: &str, env: &Env| stable(text, env, Some(&reg)).replace(&token.realm, "[REALM]");
    env.package("platform", "platform", "1.0.0", "", "one");

    // Push with the credentials of Docker's config.json: the token service sees the user.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("kdep:s3cret");
    env.docker_config(&format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}", reg.addr));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = token.take_log();
    assert!(log.contains(&"kdep repository:kdep/platform:pull,push -> pull,push".to_owned()), "{log:?}");

    // Anonymous pull, which the token server grants to anyone.
    env.docker_config("{}");
    env.shop(&format!("{{ oci = \"{repo}\", version = \"^1\" }}"));
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("value: one"));
    let log = token.take_log();
    assert!(!log.is_empty() && log.iter().all(|l| l == "anonymous repository:kdep/platform:pull -> pull"), "{log:?}");

    // Anonymous push: the token lacks the scope; the error names registry, scope and who.
    env.package("platform", "platform", "1.1.0", "", "two");
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.1.0"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("token_anonymous_push_denied", shown(&r.stderr, &env));

    // A scope the token server denies even to the user.
    env.docker_config(&format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}", reg.addr));
    let secret = format!("{}/kdep/secret", reg.addr);
    let r = env.kdep("platform", &["mod", "publish", "--oci", &secret, "--version", "1.1.0"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("token_scope_denied", shown(&r.stderr, &env));

    // Wrong password: the token service refuses.
    let wrong = base64::engine::general_purpose::STANDARD.encode("kdep:wrong");
    env.docker_config(&format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{wrong}\"}}}}}}", reg.addr));
    let r = env.kdep("platform", &["mod", "publish", "--oci", &repo, "--version", "1.1.0"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("token_wrong_password", shown(&r.stderr, &env));

    // Expired tokens and tokens from an untrusted signer are refused by the registry; kdep says
    // so, and the lock and cache stay as they were.
    env.docker_config("{}");
    std::fs::remove_dir_all(&env.cache).unwrap();
    let lock_before = lock(&env);
    token.set_mode(TokenMode::Expired);
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("token_expired", shown(&r.stderr, &env));
    token.set_mode(TokenMode::Untrusted);
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("refused the token its token service issued") && r.stderr.contains("invalid_token"),
        "{}",
        r.stderr
    );
    assert_eq!(lock(&env), lock_before);
    assert_eq!(std::fs::read_dir(env.cache.join("src")).map(|d| d.count()).unwrap_or(0), 0);
    token.set_mode(TokenMode::Good);
    assert_eq!(env.kdep("shop", &["build"]).code, 0);

    // The token service is down: the error names it, and the registry it serves.
    let realm = token.realm.clone();
    drop(token);
    std::fs::remove_dir_all(&env.cache).unwrap();
    let r = env.kdep("shop", &["build"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(&format!("cannot reach the token service of `{}` ({realm})", reg.addr)), "{}", r.stderr);
    assert_eq!(lock(&env), lock_before);
}
