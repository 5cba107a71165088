//! Packages from git and OCI registries, end to end: the real `kdep` binary against a real
//! registry (Debian's `docker-registry`, started here on 127.0.0.1, with and without basic
//! auth) and real git repositories (`file://`). Nothing is mocked. `tests/registry/setup.sh`
//! installs the registry, `htpasswd` and git.
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
        if let Some((cert, key)) = tls {
            config.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
        }
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

    env.shop(&format!("{{ git = \"{url}\", tag = \"v9\" }}"));
    let r = env.kdep("shop", &["check"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("git_missing_tag", stable(&r.stderr, &env, None));
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
