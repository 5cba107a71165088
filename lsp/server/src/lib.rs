//! The kdep language server.
