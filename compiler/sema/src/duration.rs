//! Durations (`30s`, `1h30m`, `500ms`): parsing, comparison, arithmetic, canonical printing.
