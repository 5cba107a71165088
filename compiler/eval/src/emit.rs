//! Deterministic YAML and JSON writers for manifests (YAML 1.1-safe quoting, stable key order).
