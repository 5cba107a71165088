//! Durations (`30s`, `1h30m`, `500ms`): parsing, comparison, arithmetic, canonical printing.
//!
//! A [`Duration`] is an exact signed count of nanoseconds in an `i64`, the representation of
//! Go's `time.Duration`, so every value kdep accepts is one a Kubernetes controller written in
//! Go accepts too (about ±292 years). Leaving that range is an error, never a wrap.
//!
//! # Accepted forms
//!
//! Go's `time.ParseDuration` grammar plus a day unit:
//!
//! ```text
//! duration ::= sign? ( "0" | component+ )
//! component ::= ( digits | digits "." digits? | "." digits ) unit
//! unit ::= "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h" | "d"
//! ```
//!
//! `d` is exactly 24 hours (there are no calendar or time-zone effects in a duration).
//! Like Go, fractional parts finer than a nanosecond are truncated toward zero (`1.5ns` is 1ns).
//!
//! # Canonical form
//!
//! [`Display`](fmt::Display) prints exactly what Go's `time.Duration.String` prints: hours,
//! minutes and seconds with a fractional second for durations of at least one second
//! (`1h30m0s`, `2h45m0s`, `1m30s`, `1.5s`), a single sub-second unit below that (`300ms`,
//! `1.5µs`, `10ns`), and `0s` for zero. Days are shown as hours (`1d` → `24h0m0s`).
//! [`Duration::as_written`] returns the user's text when there is one, so emitted manifests show
//! `90s` rather than `1m30s` unless arithmetic produced the value.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The one-line description of every accepted form, used in error messages and help lines.
pub const ACCEPTED_FORMS: &str = "a duration is a sequence of numbers with units, such as `300ms`, `1.5h`, \
`2h45m` or `10s`; units are ns, us (or µs), ms, s, m, h and d";

const NANOSECOND: i64 = 1;
const MICROSECOND: i64 = 1_000;
const MILLISECOND: i64 = 1_000_000;
const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Unit spellings and their length in nanoseconds.
const UNITS: &[(&str, i64)] = &[
    ("ns", NANOSECOND),
    ("us", MICROSECOND),
    ("µs", MICROSECOND),
    ("μs", MICROSECOND),
    ("ms", MILLISECOND),
    ("s", SECOND),
    ("m", MINUTE),
    ("h", HOUR),
    ("d", DAY),
];

/// An exact duration in nanoseconds.
///
/// Equality, ordering and hashing consider only the length: `90s == 1m30s`.
#[derive(Clone, Debug)]
pub struct Duration {
    nanos: i64,
    /// The text the user wrote, kept so manifests show it unchanged; `None` when computed.
    original: Option<Arc<str>>,
}

/// Why a string is not a duration, or why duration arithmetic failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    /// The rejected text, or the operation for arithmetic errors.
    pub input: String,
    /// What is wrong, lowercase-first, without the list of accepted forms.
    pub reason: String,
}

impl DurationError {
    fn parse(input: &str, reason: impl Into<String>) -> Self {
        DurationError { input: input.to_owned(), reason: reason.into() }
    }

    fn overflow(op: &str) -> Self {
        DurationError { input: op.to_owned(), reason: "the result is out of range (about ±292 years)".to_owned() }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a valid duration: {}; {}", self.input, self.reason, ACCEPTED_FORMS)
    }
}

impl std::error::Error for DurationError {}

impl Duration {
    /// Parses Go's duration syntax plus `d`; see the module documentation.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let err = |reason: &str| DurationError::parse(text, reason);
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(err("it contains whitespace"));
        }
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, text.get(1..).unwrap_or("")),
            Some(b'+') => (false, text.get(1..).unwrap_or("")),
            _ => (false, text),
        };
        if body == "0" {
            return Ok(Duration { nanos: 0, original: Some(Arc::from(text)) });
        }
        if body.is_empty() {
            return Err(err("it has no number"));
        }
        // The magnitude is accumulated in u128 so that i64::MIN (one more than i64::MAX) fits.
        let mut total: u128 = 0;
        let mut rest = body;
        let out_of_range = "it is out of range (about ±292 years)";
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (int_part, after) = rest.split_at(int_len);
            let (frac_part, after) = match after.strip_prefix('.') {
                Some(after_point) => {
                    let frac_len = after_point.bytes().take_while(u8::is_ascii_digit).count();
                    after_point.split_at(frac_len)
                }
                None => ("", after),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                let reason = if rest.starts_with(|c: char| c.is_alphabetic()) {
                    format!("the unit `{}` has no number before it", unit_prefix(rest))
                } else {
                    format!("expected a number at `{rest}`")
                };
                return Err(err(&reason));
            }
            let unit_text = unit_prefix(after);
            if unit_text.is_empty() {
                let reason = if after.is_empty() {
                    format!("the number `{rest}` has no unit")
                } else {
                    format!("unexpected `{after}`")
                };
                return Err(err(&reason));
            }
            let Some(&(_, unit)) = UNITS.iter().find(|(u, _)| *u == unit_text) else {
                return Err(err(&format!("unknown unit `{unit_text}`")));
            };
            let unit = u128::from(unit.unsigned_abs());
            // Integer part: any digits beyond u128 are certainly out of range.
            let mut whole: u128 = 0;
            for b in int_part.bytes() {
                whole = whole
                    .checked_mul(10)
                    .and_then(|w| w.checked_add(u128::from(b - b'0')))
                    .ok_or_else(|| err(out_of_range))?;
            }
            let mut component = whole.checked_mul(unit).ok_or_else(|| err(out_of_range))?;
            // Fraction: digits past the 18th contribute less than a nanosecond even for days,
            // so they are dropped, matching Go's truncation.
            let mut frac: u128 = 0;
            let mut scale: u128 = 1;
            for b in frac_part.bytes().take(18) {
                frac = frac * 10 + u128::from(b - b'0');
                scale *= 10;
            }
            component = component.checked_add(frac * unit / scale).ok_or_else(|| err(out_of_range))?;
            total = total.checked_add(component).ok_or_else(|| err(out_of_range))?;
            rest = after.get(unit_text.len()..).unwrap_or("");
        }
        let limit = if negative { u128::from(i64::MIN.unsigned_abs()) } else { i64::MAX as u128 };
        if total > limit {
            return Err(err(out_of_range));
        }
        let nanos = if negative {
            // `total <= 2^63`, so the negation fits.
            0i64.checked_sub_unsigned(total as u64).ok_or_else(|| err(out_of_range))?
        } else {
            i64::try_from(total).map_err(|_| err(out_of_range))?
        };
        Ok(Duration { nanos, original: Some(Arc::from(text)) })
    }

    pub fn from_nanos(nanos: i64) -> Duration {
        Duration { nanos, original: None }
    }

    pub fn nanos(&self) -> i64 {
        self.nanos
    }

    /// The text the user wrote, if this duration was parsed rather than computed.
    pub fn original(&self) -> Option<&str> {
        self.original.as_deref()
    }

    /// What manifests show: the original text if any, otherwise the canonical form.
    pub fn as_written(&self) -> String {
        match &self.original {
            Some(text) => text.to_string(),
            None => self.to_string(),
        }
    }

    /// The number of whole seconds if the duration is one (`90s` → 90, `1.5s` → `None`).
    pub fn whole_seconds(&self) -> Option<i64> {
        (self.nanos % SECOND == 0).then_some(self.nanos / SECOND)
    }

    pub fn checked_add(&self, other: &Duration) -> Result<Duration, DurationError> {
        self.nanos
            .checked_add(other.nanos)
            .map(Duration::from_nanos)
            .ok_or_else(|| DurationError::overflow("duration addition"))
    }

    pub fn checked_sub(&self, other: &Duration) -> Result<Duration, DurationError> {
        self.nanos
            .checked_sub(other.nanos)
            .map(Duration::from_nanos)
            .ok_or_else(|| DurationError::overflow("duration subtraction"))
    }

    pub fn checked_mul_int(&self, factor: i64) -> Result<Duration, DurationError> {
        self.nanos
            .checked_mul(factor)
            .map(Duration::from_nanos)
            .ok_or_else(|| DurationError::overflow("duration multiplication"))
    }

    pub fn checked_neg(&self) -> Result<Duration, DurationError> {
        self.nanos.checked_neg().map(Duration::from_nanos).ok_or_else(|| DurationError::overflow("duration negation"))
    }
}

/// The leading run of characters that can form a unit (everything up to the next digit or point).
fn unit_prefix(s: &str) -> &str {
    let end = s.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(s.len());
    s.get(..end).unwrap_or("")
}

/// Appends `v / 10^prec` as Go's `fmtFrac` does: the fractional digits without trailing zeros,
/// and no point at all when the fraction is zero. Returns the integer part.
fn split_frac(v: u64, prec: u32) -> (u64, String) {
    let div = 10u64.pow(prec);
    let frac = v % div;
    if frac == 0 {
        return (v / div, String::new());
    }
    let mut digits = format!("{frac:0width$}", width = prec as usize);
    while digits.ends_with('0') {
        digits.pop();
    }
    (v / div, format!(".{digits}"))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.nanos.unsigned_abs();
        if u == 0 {
            return f.write_str("0s");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let second = SECOND.unsigned_abs();
        if u < second {
            let (prec, unit) = if u < MICROSECOND.unsigned_abs() {
                (0, "ns")
            } else if u < MILLISECOND.unsigned_abs() {
                (3, "µs")
            } else {
                (6, "ms")
            };
            let (whole, frac) = split_frac(u, prec);
            return write!(f, "{sign}{whole}{frac}{unit}");
        }
        let (secs, frac) = split_frac(u, 9);
        let (mins, secs) = (secs / 60, secs % 60);
        let (hours, mins) = (mins / 60, mins % 60);
        if hours > 0 {
            write!(f, "{sign}{hours}h{mins}m{secs}{frac}s")
        } else if mins > 0 {
            write!(f, "{sign}{mins}m{secs}{frac}s")
        } else {
            write!(f, "{sign}{secs}{frac}s")
        }
    }
}

impl PartialEq for Duration {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Duration {}

impl Hash for Duration {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Duration {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Duration {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        Duration::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_go_forms() {
        let cases = [
            ("300ms", 300 * MILLISECOND),
            ("1.5h", 90 * MINUTE),
            ("2h45m", 2 * HOUR + 45 * MINUTE),
            ("10s", 10 * SECOND),
            ("1m30s", 90 * SECOND),
            ("0", 0),
            ("-0", 0),
            ("+5s", 5 * SECOND),
            ("-1.5s", -1500 * MILLISECOND),
            ("1d", DAY),
            ("1d12h", DAY + 12 * HOUR),
            ("10ns", 10),
            ("10us", 10 * MICROSECOND),
            ("10µs", 10 * MICROSECOND),
            ("10μs", 10 * MICROSECOND),
            (".5s", 500 * MILLISECOND),
            ("1.s", SECOND),
            ("1.5ns", 1),
            ("0.000000001s", 1),
            ("1h1h", 2 * HOUR),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("2562047h47m16.854775807s", i64::MAX),
        ];
        for (input, want) in cases {
            assert_eq!(d(input).nanos(), want, "{input}");
        }
    }

    #[test]
    fn prints_like_go() {
        let cases = [
            ("0", "0s"),
            ("1h30m", "1h30m0s"),
            ("2h45m", "2h45m0s"),
            ("90s", "1m30s"),
            ("1.5s", "1.5s"),
            ("300ms", "300ms"),
            ("1.5ms", "1.5ms"),
            ("1500ns", "1.5µs"),
            ("10ns", "10ns"),
            ("1d", "24h0m0s"),
            ("-1m", "-1m0s"),
            ("1h0m0.000000001s", "1h0m0.000000001s"),
            ("-9223372036854775808ns", "-2562047h47m16.854775808s"),
            ("9223372036854775807ns", "2562047h47m16.854775807s"),
        ];
        for (input, want) in cases {
            assert_eq!(d(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let cases = [
            ("", "empty"),
            ("10", "has no unit"),
            ("1.5", "`1.5` has no unit"),
            ("s", "unit `s` has no number"),
            ("1x", "unknown unit `x`"),
            ("1sec", "unknown unit `sec`"),
            ("1 s", "whitespace"),
            ("-", "no number"),
            ("1s-2s", "unknown unit `s-`"),
            (".s", "expected a number"),
            ("9223372036854775808ns", "out of range"),
            ("3000000h", "out of range"),
            ("99999999999999999999999999999999999999999h", "out of range"),
        ];
        for (input, want) in cases {
            match Duration::parse(input) {
                Ok(v) => panic!("{input:?} parsed as {v}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{input:?}: {msg}");
                    assert!(msg.contains("units are ns"), "{msg}");
                }
            }
        }
    }

    /// Every string of up to five characters over the duration alphabet: parsing never panics,
    /// and whatever parses prints a canonical form that parses back to the same value.
    #[test]
    fn exhaustive_short_inputs() {
        let alphabet: Vec<char> = "09.+-nuµmshdx".chars().collect();
        let mut stack = vec![String::new()];
        let mut n_ok = 0;
        while let Some(s) = stack.pop() {
            if let Ok(v) = Duration::parse(&s) {
                n_ok += 1;
                assert_eq!(Duration::parse(&v.to_string()).ok(), Some(v.clone()), "{s:?} -> {v}");
            }
            if s.chars().count() < 5 {
                stack.extend(alphabet.iter().map(|c| format!("{s}{c}")));
            }
        }
        assert!(n_ok > 1000, "{n_ok}");
    }

    #[test]
    fn arithmetic_and_comparison() {
        assert_eq!(d("90s"), d("1m30s"));
        assert!(d("1h") > d("59m"));
        let sum = d("1h").checked_add(&d("30m")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sum.as_written(), "1h30m0s");
        assert_eq!(d("90s").as_written(), "90s");
        assert!(d("9223372036854775807ns").checked_add(&d("1ns")).is_err());
        assert!(Duration::from_nanos(i64::MIN).checked_neg().is_err());
        assert_eq!(d("2s").checked_mul_int(3).map(|x| x.nanos()), Ok(6 * SECOND));
        assert_eq!(d("90s").whole_seconds(), Some(90));
        assert_eq!(d("1.5s").whole_seconds(), None);
    }
}
