//! Editor answers over the compiler session.
