//! Runtime values of kdep programs, with per-entry provenance (source span and layer).
