//! Errors of cluster operations: each says what failed and, where one exists, what to do.

use std::fmt;

/// An error that stops a cluster command. `hint` is the "what to do" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub hint: Option<String>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error { message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A failed request, described for a person: the API server's own message when it answered,
/// otherwise the transport failure with the likely cause (TLS, connection, credentials).
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() { String::new() } else { format!(" ({})", status.reason) };
            format!("{}{reason}, HTTP {}", status.message.trim(), status.code)
        }
        other => {
            // The chain of sources names the root cause (e.g. "invalid peer certificate:
            // UnknownIssuer", "Connection refused"); the top-level text alone rarely does.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// The HTTP status of an API error, if the server answered.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A hint for common failures: credentials, permissions, certificates, connectivity.
pub fn hint_for(err: &kube::Error) -> Option<String> {
    let text = describe(err);
    match status_code(err) {
        Some(401) => Some("the credentials of this kubeconfig context were refused: check the token or re-run the login your cluster uses".into()),
        Some(403) => Some("this identity may not do that: ask for the permission, or use a context with it (--context)".into()),
        Some(_) => None,
        None if text.contains("certificate") || text.contains("UnknownIssuer") || text.contains("tls") => Some(
            "the server's certificate is not trusted by the kubeconfig's certificate-authority; check the cluster entry (TLS verification stays on)".into(),
        ),
        None => Some("check that the cluster is reachable from here (the server address in the kubeconfig)".into()),
    }
}
