//! A small client of the OCI distribution API (tags, manifests, blobs; pull and push) over
//! `ureq`, with the credentials and TLS settings container tools use:
//!
//! - credentials from `REGISTRY_AUTH_FILE`, Podman's `auth.json` (`$XDG_RUNTIME_DIR/containers`,
//!   `~/.config/containers`) and Docker's `config.json` (`$DOCKER_CONFIG`, `~/.docker`), including
//!   `credHelpers`/`credsStore` (`docker-credential-<helper> get`);
//! - HTTP basic auth and the bearer token flow (`WWW-Authenticate: Bearer realm=...`);
//! - a custom CA from `KDEP_REGISTRY_CA` or `/etc/containers/certs.d/<registry>/*.crt` and
//!   `/etc/docker/certs.d/<registry>/*.crt`;
//! - plain HTTP only to loopback registries, or everywhere with `KDEP_REGISTRY_PLAIN_HTTP=always`
//!   (the `--plain-http` flag); `never` forces TLS even on loopback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The media type of a kdep package manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.kdep.package.v1";
/// The media type of the package layer: a deterministic tar.gz of `kdep.toml` and modules.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.kdep.package.v1.tar+gzip";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI "empty" config (`{}`), as artifacts without configuration use.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// Largest manifest and package blob kdep downloads.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;

/// A registry problem, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciError {
    pub message: String,
    pub help: Option<String>,
}

impl OciError {
    fn new(message: impl Into<String>) -> OciError {
        OciError { message: message.into(), help: None }
    }
    fn help(mut self, help: impl Into<String>) -> OciError {
        self.help = Some(help.into());
        self
    }
}

/// `registry/repository`, as written in `kdep.toml` after `oci =`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
}

impl Reference {
    pub fn parse(s: &str) -> Option<Reference> {
        if !kdep_compiler::package_toml::is_oci_repository(s) {
            return None;
        }
        let (registry, repository) = s.split_once('/')?;
        Some(Reference { registry: registry.to_owned(), repository: repository.to_owned() })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// `sha256:<hex>` of bytes.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Credentials for one registry.
#[derive(Clone, Debug)]
struct Credentials {
    user: String,
    secret: String,
}

/// A client for the registries of one command run; tokens are kept per registry and scope.
pub struct Client {
    agents: BTreeMap<String, ureq::Agent>,
    /// Registry → `Authorization` header value that worked last.
    authorization: BTreeMap<String, String>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client { agents: BTreeMap::new(), authorization: BTreeMap::new() }
    }

    fn base_url(&self, registry: &str) -> String {
        let plain = match std::env::var("KDEP_REGISTRY_PLAIN_HTTP").as_deref() {
            Ok("always") => true,
            Ok("never") => false,
            _ => is_loopback(registry),
        };
        format!("{}://{registry}", if plain { "http" } else { "https" })
    }

    fn agent(&mut self, registry: &str) -> Result<ureq::Agent, OciError> {
        if let Some(a) = self.agents.get(registry) {
            return Ok(a.clone());
        }
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        let mut certs = Vec::new();
        for path in ca_files(registry) {
            let pem = std::fs::read(&path)
                .map_err(|e| OciError::new(format!("cannot read the CA file `{}`: {e}", path.display())))?;
            for cert in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = cert {
                    certs.push(Certificate::from_der(c.der()).to_owned());
                }
            }
        }
        if !certs.is_empty() {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(5)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        self.agents.insert(registry.to_owned(), agent.clone());
        Ok(agent)
    }

    /// Sends a request, answering a 401 challenge once (basic, or a bearer token for `scope`).
    #[expect(clippy::too_many_arguments, reason = "one request's parts; a struct would only rename them")]
    fn send(
        &mut self,
        registry: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        scope: &str,
        limit: u64,
    ) -> Result<Response, OciError> {
        let first = self.send_once(registry, method, url, headers, body, limit)?;
        if first.status != 401 {
            return Ok(first);
        }
        let challenge = first.headers.get("www-authenticate").cloned().unwrap_or_default();
        let creds = credentials(registry)?;
        let bearer = challenge.to_ascii_lowercase().starts_with("bearer");
        let header = if bearer {
            let token = self.bearer_token(registry, &challenge, scope, creds.as_ref())?;
            format!("Bearer {token}")
        } else {
            let Some(c) = &creds else {
                return Err(no_credentials(registry));
            };
            basic(c)
        };
        self.authorization.insert(registry.to_owned(), header);
        let second = self.send_once(registry, method, url, headers, body, limit)?;
        if second.status == 401 || second.status == 403 {
            // A token the registry does not take is forgotten, so a later request asks anew.
            self.authorization.remove(registry);
            if bearer {
                return Err(token_refused(registry, &second, scope, creds.as_ref()));
            }
            return Err(OciError::new(format!("registry `{registry}` refused the credentials ({})", second.status))
                .help("check the user and password with `docker login` / `podman login`, or REGISTRY_AUTH_FILE"));
        }
        Ok(second)
    }

    fn send_once(
        &mut self,
        registry: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        limit: u64,
    ) -> Result<Response, OciError> {
        let agent = self.agent(registry)?;
        let mut b = ureq::http::Request::builder().method(method).uri(url).header("User-Agent", "kdep");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(auth) = self.authorization.get(registry) {
            b = b.header("Authorization", auth.as_str());
        }
        let req = b.body(body.to_vec()).map_err(|e| OciError::new(format!("bad request to `{url}`: {e}")))?;
        let mut res = agent.run(req).map_err(|e| {
            OciError::new(format!("cannot reach registry `{registry}`: {e}"))
                .help("check the address and that the registry is running; for a registry with a private CA see docs/packages.md")
        })?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            res.body_mut().with_config().limit(limit).read_to_vec().map_err(|e| {
                OciError::new(format!("cannot read the answer of registry `{registry}` to {method} {url}: {e}"))
            })?
        };
        Ok(Response { status, headers, body })
    }

    fn bearer_token(
        &mut self,
        registry: &str,
        challenge: &str,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Result<String, OciError> {
        let params = parse_challenge(challenge);
        let Some(realm) = params.get("realm") else {
            return Err(OciError::new(format!("registry `{registry}` asked for a token without a realm")));
        };
        let mut url = format!("{realm}?");
        if let Some(service) = params.get("service") {
            url.push_str(&format!("service={}&", percent_encode(service)));
        }
        url.push_str(&format!("scope={}", percent_encode(scope)));
        let agent = self.agent(registry)?;
        let mut b = ureq::http::Request::builder().method("GET").uri(&url).header("User-Agent", "kdep");
        if let Some(c) = creds {
            b = b.header("Authorization", basic(c));
        }
        let req = b.body(Vec::new()).map_err(|e| OciError::new(format!("bad token request `{url}`: {e}")))?;
        let mut res = agent.run(req).map_err(|e| {
            OciError::new(format!("cannot reach the token service of `{registry}` ({realm}): {e}")).help(
                "the registry sends clients to this address for tokens; check that it is up and reachable from here",
            )
        })?;
        let status = res.status().as_u16();
        let body = res.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(match creds {
                None => no_credentials(registry),
                Some(_) => {
                    OciError::new(format!("the token service of `{registry}` refused the credentials ({status})"))
                        .help(format!("check the user and password with `docker login {registry}` / `podman login {registry}`, or REGISTRY_AUTH_FILE"))
                }
            });
        }
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        json.get("token").or_else(|| json.get("access_token")).and_then(Value::as_str).map(str::to_owned).ok_or_else(
            || OciError::new(format!("the token service of `{registry}` answered {status} without a token")),
        )
    }

    /// Every tag of a repository (following `Link` pagination).
    pub fn tags(&mut self, r: &Reference) -> Result<Vec<String>, OciError> {
        let base = self.base_url(&r.registry);
        let mut url = format!("{base}/v2/{}/tags/list?n=1000", r.repository);
        let mut tags = Vec::new();
        for _ in 0..100 {
            let res = self.send(&r.registry, "GET", &url, &[], &[], &pull_scope(r), MAX_MANIFEST_BYTES)?;
            if res.status == 404 {
                return Err(OciError::new(format!("repository `{r}` does not exist"))
                    .help("check the `oci` address in kdep.toml; a package is published with `kdep mod publish`"));
            }
            expect_ok(&res, r, "list tags")?;
            let json: Value = serde_json::from_slice(&res.body)
                .map_err(|e| OciError::new(format!("registry `{}` sent an invalid tag list: {e}", r.registry)))?;
            tags.extend(
                json.get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
            match res.headers.get("link").and_then(|l| next_link(l)) {
                Some(next) if next.starts_with('/') => url = format!("{base}{next}"),
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }

    /// A manifest by tag or digest: its bytes and digest. A manifest asked for by digest is
    /// checked against it.
    pub fn manifest(&mut self, r: &Reference, reference: &str) -> Result<Option<(Vec<u8>, String)>, OciError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url(&r.registry), r.repository);
        let res = self.send(
            &r.registry,
            "GET",
            &url,
            &[("Accept", MANIFEST_MEDIA_TYPE)],
            &[],
            &pull_scope(r),
            MAX_MANIFEST_BYTES,
        )?;
        if res.status == 404 {
            return Ok(None);
        }
        expect_ok(&res, r, "fetch a manifest")?;
        let got = digest(&res.body);
        if reference.starts_with("sha256:") && got != reference {
            return Err(OciError::new(format!("registry `{}` sent manifest {got} for {reference}", r.registry)));
        }
        Ok(Some((res.body, got)))
    }

    /// A blob, checked against its digest.
    pub fn blob(&mut self, r: &Reference, digest_wanted: &str) -> Result<Vec<u8>, OciError> {
        let url = format!("{}/v2/{}/blobs/{digest_wanted}", self.base_url(&r.registry), r.repository);
        let res = self.send(&r.registry, "GET", &url, &[], &[], &pull_scope(r), MAX_BLOB_BYTES)?;
        if res.status == 404 {
            return Err(OciError::new(format!("blob {digest_wanted} is missing from `{r}`")));
        }
        expect_ok(&res, r, "fetch a blob")?;
        let got = digest(&res.body);
        if got != digest_wanted {
            return Err(OciError::new(format!(
                "the blob `{r}` sent does not match its digest: the manifest names {digest_wanted}, the content hashes to {got}"
            ))
            .help("the registry's storage is corrupt or was tampered with; tell its operators"));
        }
        Ok(res.body)
    }

    /// Uploads a blob unless the repository has it.
    pub fn push_blob(&mut self, r: &Reference, data: &[u8]) -> Result<String, OciError> {
        let d = digest(data);
        let base = self.base_url(&r.registry);
        let scope = push_scope(r);
        let head =
            self.send(&r.registry, "HEAD", &format!("{base}/v2/{}/blobs/{d}", r.repository), &[], &[], &scope, 0)?;
        if head.status == 200 {
            return Ok(d);
        }
        let start = self.send(
            &r.registry,
            "POST",
            &format!("{base}/v2/{}/blobs/uploads/", r.repository),
            &[],
            &[],
            &scope,
            1 << 20,
        )?;
        if start.status != 202 {
            return Err(status_error(&start, r, "start a blob upload"));
        }
        let location = start.headers.get("location").cloned().unwrap_or_default();
        let location = if location.starts_with('/') { format!("{base}{location}") } else { location };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self.send(
            &r.registry,
            "PUT",
            &format!("{location}{sep}digest={}", percent_encode(&d)),
            &[("Content-Type", "application/octet-stream")],
            data,
            &scope,
            1 << 20,
        )?;
        if put.status != 201 {
            return Err(status_error(&put, r, "upload a blob"));
        }
        Ok(d)
    }

    /// Whether a tag exists, and the digest it names.
    pub fn tag_digest(&mut self, r: &Reference, tag: &str) -> Result<Option<String>, OciError> {
        Ok(self.manifest(r, tag)?.map(|(_, d)| d))
    }

    pub fn push_manifest(&mut self, r: &Reference, tag: &str, manifest: &[u8]) -> Result<String, OciError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base_url(&r.registry), r.repository);
        let res = self.send(
            &r.registry,
            "PUT",
            &url,
            &[("Content-Type", MANIFEST_MEDIA_TYPE)],
            manifest,
            &push_scope(r),
            1 << 20,
        )?;
        if res.status != 201 {
            return Err(status_error(&res, r, "push the manifest"));
        }
        Ok(digest(manifest))
    }
}

fn pull_scope(r: &Reference) -> String {
    format!("repository:{}:pull", r.repository)
}

fn push_scope(r: &Reference) -> String {
    format!("repository:{}:pull,push", r.repository)
}

fn expect_ok(res: &Response, r: &Reference, what: &str) -> Result<(), OciError> {
    if res.status == 200 {
        Ok(())
    } else {
        Err(status_error(res, r, what))
    }
}

fn status_error(res: &Response, r: &Reference, what: &str) -> OciError {
    // The distribution API explains errors as `{"errors": [{"code", "message"}]}`.
    let json: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    let detail: Vec<String> = json
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("code").and_then(Value::as_str).unwrap_or("?"),
                e.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    let detail = if detail.is_empty() { String::new() } else { format!(" ({})", detail.join("; ")) };
    OciError::new(format!("registry `{}` answered {} when asked to {what} for `{r}`{detail}", r.registry, res.status))
}

/// Why a registry refused a bearer token it had asked for, from its second challenge's `error`
/// (RFC 6750): a token without the scope (`insufficient_scope`, or 403) names the scope and
/// who asked; a token it cannot verify (`invalid_token`: expired, wrong signer, issuer or
/// audience) is the token service's or the clock's fault, not the user's.
fn token_refused(registry: &str, res: &Response, scope: &str, creds: Option<&Credentials>) -> OciError {
    let params = parse_challenge(res.headers.get("www-authenticate").map_or("", String::as_str));
    let error = params.get("error").map_or("", String::as_str);
    let described = params.get("error_description").map(|d| format!(": {d}")).unwrap_or_default();
    if error == "invalid_token" {
        return OciError::new(format!(
            "registry `{registry}` refused the token its token service issued for `{scope}` (invalid_token{described})"
        ))
        .help("the token is expired or signed by a key, issuer or service the registry does not trust; check the clocks, or tell the registry's operators");
    }
    let who = match creds {
        Some(c) => format!("user `{}`", c.user),
        None => "anonymous access".to_owned(),
    };
    let err = OciError::new(format!(
        "registry `{registry}` denied `{scope}` to {who} ({}{described})",
        if error.is_empty() { res.status.to_string() } else { error.to_owned() }
    ));
    match creds {
        None => err.help(format!(
            "this needs credentials: run `docker login {registry}` or `podman login {registry}`, or set REGISTRY_AUTH_FILE"
        )),
        Some(_) => err.help("ask the registry's operators to grant this scope to the user, or log in as another user"),
    }
}

fn no_credentials(registry: &str) -> OciError {
    OciError::new(format!("registry `{registry}` requires authentication and no credentials for it were found"))
        .help(format!("run `docker login {registry}` or `podman login {registry}`, or set REGISTRY_AUTH_FILE to an auth.json with an entry for it"))
}

fn basic(c: &Credentials) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.secret)))
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
fn parse_challenge(challenge: &str) -> BTreeMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_owned();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => {
                        value.push(c);
                        escaped = false;
                    }
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key.to_ascii_lowercase(), value);
    }
}

fn next_link(link: &str) -> Option<String> {
    let (target, params) = link.split_once(';')?;
    params.contains("rel=\"next\"").then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The auth files container tools read, in their order of precedence.
fn auth_files() -> Vec<PathBuf> {
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return vec![PathBuf::from(f)];
    }
    let mut out = Vec::new();
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        out.push(PathBuf::from(run).join("containers/auth.json"));
    }
    if let Some(config) = dirs::config_dir() {
        out.push(config.join("containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => out.push(PathBuf::from(d).join("config.json")),
        None => out.extend(dirs::home_dir().map(|h| h.join(".docker/config.json"))),
    }
    out
}

/// `https://index.docker.io/v1/` and `registry.example.com/v2` both name their host.
fn auth_key(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The credentials for `registry` from the first auth file that has any.
fn credentials(registry: &str) -> Result<Option<Credentials>, OciError> {
    for path in auth_files() {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(OciError::new(format!("cannot read `{}`: {e}", path.display()))),
        };
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| OciError::new(format!("`{}` is not valid JSON: {e}", path.display())))?;
        if let Some(helper) = json.get("credHelpers").and_then(|h| h.get(registry)).and_then(Value::as_str) {
            return credential_helper(helper, registry);
        }
        let entry = json
            .get("auths")
            .and_then(Value::as_object)
            .and_then(|auths| auths.iter().find(|(k, _)| auth_key(k) == registry).map(|(_, v)| v));
        if let Some(entry) = entry {
            if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        OciError::new(format!(
                            "the `auth` for `{registry}` in `{}` is not base64 of user:password",
                            path.display()
                        ))
                    })?;
                let (user, secret) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
                return Ok(Some(Credentials { user: user.to_owned(), secret: secret.to_owned() }));
            }
            if let (Some(u), Some(p)) =
                (entry.get("username").and_then(Value::as_str), entry.get("password").and_then(Value::as_str))
            {
                return Ok(Some(Credentials { user: u.to_owned(), secret: p.to_owned() }));
            }
        }
        if let Some(store) = json.get("credsStore").and_then(Value::as_str) {
            if let Some(c) = credential_helper(store, registry)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// Asks `docker-credential-<helper>` for the credentials of `registry`, as Docker does: `None`
/// when the helper has none for it (the protocol's `credentials not found` answer, which means
/// anonymous access, as for Docker); a helper that is missing or fails otherwise is an error,
/// not a silent anonymous request.
fn credential_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, OciError> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            OciError::new(format!("cannot run the credential helper `{program}` named for `{registry}`: {e}")).help(
                format!("install `{program}` on PATH, or remove `{helper}` from `credHelpers`/`credsStore` in the Docker config"),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| OciError::new(format!("`{program}` failed: {e}")))?;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    match (json.get("Username").and_then(Value::as_str), json.get("Secret").and_then(Value::as_str)) {
        (Some(u), Some(s)) if out.status.success() => {
            Ok(Some(Credentials { user: u.to_owned(), secret: s.to_owned() }))
        }
        _ if !out.status.success()
            && [&out.stdout, &out.stderr]
                .iter()
                .any(|b| String::from_utf8_lossy(b).contains("credentials not found")) =>
        {
            Ok(None)
        }
        _ => {
            // Helpers explain themselves on stdout (`credentials not found in native keychain`)
            // or stderr; the first line of either is what the user needs.
            let said = [&out.stderr, &out.stdout]
                .iter()
                .filter_map(|b| {
                    String::from_utf8_lossy(b).lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
                })
                .next()
                .map(|l| format!(": {}", l.chars().take(200).collect::<String>()))
                .unwrap_or_default();
            let status = match out.status.code() {
                Some(0) => "answered without a Username and Secret".to_owned(),
                Some(c) => format!("exited with {c}"),
                None => "was killed".to_owned(),
            };
            Err(OciError::new(format!("credential helper `{program} get` {status} for `{registry}`{said}"))
                .help(format!("log in again (`docker login {registry}`) so the helper stores credentials for it")))
        }
    }
}

/// CA files for `registry`: `KDEP_REGISTRY_CA`, then the certs.d folders Podman and Docker read.
fn ca_files(registry: &str) -> Vec<PathBuf> {
    if let Some(f) = std::env::var_os("KDEP_REGISTRY_CA").filter(|f| !f.is_empty()) {
        return vec![PathBuf::from(f)];
    }
    let mut out = Vec::new();
    for base in ["/etc/containers/certs.d", "/etc/docker/certs.d"] {
        let dir = PathBuf::from(base).join(registry);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt") && !p.to_string_lossy().ends_with(".cert"))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_links_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(c.get("realm").map(String::as_str), Some("https://auth.example.com/token"));
        assert_eq!(c.get("service").map(String::as_str), Some("registry.example.com"));
        assert_eq!(c.get("scope").map(String::as_str), Some("repository:a/b:pull"));
        assert_eq!(
            next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(auth_key("https://index.docker.io/v1/"), "index.docker.io");
    }

    #[test]
    fn only_loopback_registries_are_plain_http_by_default() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
