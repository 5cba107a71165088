//! The pure builtin function library (string, list, map, quantity, encoding, hashing, serialisation).
