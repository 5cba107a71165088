//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`): exact parsing, comparison, arithmetic.
//!
//! A [`Quantity`] stores its value as a signed count of nano-units in an `i128`, which is the
//! finest precision Kubernetes keeps (`resource.Quantity` rounds anything finer up to `1n`).
//! Every decimal or binary suffix is an integer multiple of a nano-unit, so `1000m == 1`,
//! `1Gi == 1024Mi` and `0.5 == 500m` hold exactly, and addition, subtraction, comparison and
//! multiplication by an integer are exact. The range is about ±1.7·10²⁹ units, far beyond any
//! real resource amount; leaving it is an error, never a wrap.
//!
//! # Accepted forms
//!
//! The grammar is the one of Kubernetes' `resource.ParseQuantity`:
//!
//! ```text
//! quantity ::= sign? number suffix
//! number   ::= digits | digits "." digits? | "." digits
//! suffix   ::= "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"    (decimal SI)
//!            | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"                     (binary SI)
//!            | ("e" | "E") sign? digits                                    (decimal exponent)
//! ```
//!
//! A lone `E` is the exa suffix; `E` followed by digits is an exponent. Values with precision
//! finer than a nano-unit are rounded away from zero to the next nano-unit, as Kubernetes does.
//!
//! # Canonical form
//!
//! [`Display`](fmt::Display) prints the form `resource.Quantity.String()` produces, keeping the
//! suffix family ([`Format`]) of the input (or of the left operand for arithmetic):
//!
//! * zero is always `0`;
//! * decimal SI: the value is written as an integer mantissa times `10^e` where `e` is a
//!   multiple of three, chosen as large as possible, and `e` becomes the suffix
//!   (`1.5` → `1500m`, `1000m` → `1`, `12000` → `12k`); exponents above 18 stay at `E`;
//! * decimal exponent: the same mantissa and exponent, written `e<exp>` (`1500e-3` → `1500e-3`,
//!   `1000` written as `1e3` stays `1e3`);
//! * binary SI: if the value is a whole number of units with magnitude at least 1024 it is
//!   written as an integer times the largest power of 1024 that divides it (`1.5Gi` → `1536Mi`,
//!   `2048Ki` → `2Mi`); otherwise it falls back to decimal SI (`512Ki`/1024 → `512`,
//!   `0.5Ki` → `512`, `1.1Ki` → `1126400m`).
//!
//! Because users expect their manifests to contain what they wrote, [`Quantity::as_written`]
//! returns the original text of a parsed quantity and the canonical form only for values that
//! arithmetic produced. Emitters use `as_written`; diagnostics may use either.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The one-line description of every accepted form, used in error messages and help lines.
pub const ACCEPTED_FORMS: &str = "a quantity is a number with an optional suffix: plain numbers (`2`, `0.5`), \
decimal suffixes n u m k M G T P E (`500m`, `2G`), binary suffixes Ki Mi Gi Ti Pi Ei (`128Mi`, `1.5Gi`) \
or a decimal exponent (`2e3`, `1E-3`)";

/// The suffix family of a quantity, which decides how it prints canonically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// No suffix or a decimal SI suffix (`500m`, `2`, `3k`).
    DecimalSi,
    /// A binary SI suffix (`128Mi`).
    BinarySi,
    /// A decimal exponent (`2e3`).
    DecimalExponent,
}

/// An exact Kubernetes resource quantity.
///
/// Equality, ordering and hashing consider only the numeric value: `1Gi == 1024Mi`,
/// `"1"` and `"1000m"` hash alike.
#[derive(Clone, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
    /// The text the user wrote, kept so manifests show it unchanged; `None` when computed.
    original: Option<Arc<str>>,
    /// Written as an int (`cpu = 2`), so manifests show the int, not the string `"2"`.
    from_int: bool,
}

/// Why a string is not a quantity, or why arithmetic on quantities failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError {
    /// The rejected text, or the operation for arithmetic errors.
    pub input: String,
    /// What is wrong, lowercase-first, without the list of accepted forms.
    pub reason: String,
}

impl QuantityError {
    fn parse(input: &str, reason: impl Into<String>) -> Self {
        QuantityError { input: input.to_owned(), reason: reason.into() }
    }

    fn overflow(op: &str) -> Self {
        QuantityError { input: op.to_owned(), reason: "the result is too large to represent".to_owned() }
    }
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a valid quantity: {}; {}", self.input, self.reason, ACCEPTED_FORMS)
    }
}

impl std::error::Error for QuantityError {}

/// Decimal SI suffixes and their power of ten.
const DECIMAL_SUFFIXES: &[(&str, i32)] =
    &[("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];

/// Binary SI suffixes and their power of 1024.
const BINARY_SUFFIXES: &[(&str, u32)] = &[("", 0), ("Ki", 1), ("Mi", 2), ("Gi", 3), ("Ti", 4), ("Pi", 5), ("Ei", 6)];

/// `10^exp` if it fits an `i128`.
fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

/// Divides rounding away from zero (Kubernetes' `RoundUp`); `divisor` is positive.
fn div_away_from_zero(n: i128, divisor: i128) -> i128 {
    let q = n / divisor;
    if n % divisor == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

/// `n * 10^exp` for a possibly negative `exp`, rounding away from zero when scaling down.
/// The exponent is an `i64` so that callers can combine exponents and digit counts of any
/// input length without overflow.
fn scale10(n: i128, exp: i64) -> Option<i128> {
    let magnitude = u32::try_from(exp.unsigned_abs()).ok();
    if exp >= 0 {
        n.checked_mul(pow10(magnitude?)?)
    } else {
        match magnitude.and_then(pow10) {
            Some(d) => Some(div_away_from_zero(n, d)),
            // The divisor exceeds every representable value: anything non-zero rounds to one unit.
            None => Some(n.signum()),
        }
    }
}

impl Quantity {
    /// Parses any form Kubernetes accepts; see the module documentation.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let err = |reason: &str| QuantityError::parse(text, reason);
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(err("it contains whitespace"));
        }
        let bytes = text.as_bytes();
        let mut pos = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        // Mantissa digits, accumulated as an integer with `frac_digits` digits after the point.
        let mut mantissa: i128 = 0;
        let mut int_digits = 0usize;
        let mut frac_digits = 0i64;
        let mut seen_point = false;
        let too_many = "it has too many digits";
        while let Some(&b) = bytes.get(pos) {
            match b {
                b'0'..=b'9' => {
                    mantissa = mantissa
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(i128::from(b - b'0')))
                        .ok_or_else(|| err(too_many))?;
                    if seen_point {
                        frac_digits = frac_digits.checked_add(1).ok_or_else(|| err(too_many))?;
                    } else {
                        int_digits += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                b'.' => return Err(err("it has more than one decimal point")),
                _ => break,
            }
            pos += 1;
        }
        if int_digits == 0 && frac_digits == 0 {
            return Err(err("it does not start with a number"));
        }
        let suffix = text.get(pos..).unwrap_or("");
        let (format, nanos) = if let Some(&(_, exp)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
            let nanos = scale10(mantissa, i64::from(exp) - frac_digits + 9).ok_or_else(|| err("it is too large"))?;
            (Format::DecimalSi, nanos)
        } else if let Some(&(_, power)) = BINARY_SUFFIXES.iter().find(|(s, _)| !s.is_empty() && *s == suffix) {
            let multiplier = 1024i128.checked_pow(power).ok_or_else(|| err("it is too large"))?;
            let nanos = mantissa
                .checked_mul(multiplier)
                .and_then(|m| scale10(m, 9 - frac_digits))
                .ok_or_else(|| err("it is too large"))?;
            (Format::BinarySi, nanos)
        } else if let Some(exp_text) = suffix.strip_prefix(['e', 'E']).filter(|rest| !rest.is_empty()) {
            let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(&format!("the exponent `{suffix}` is not `e` followed by an integer")));
            }
            // Exponents beyond a few hundred cannot produce a representable, non-zero value.
            let exp: i32 = exp_text
                .parse()
                .ok()
                .filter(|e: &i32| e.abs() <= 1000)
                .ok_or_else(|| err(&format!("the exponent `{suffix}` is out of range")))?;
            let nanos = scale10(mantissa, i64::from(exp) - frac_digits + 9).ok_or_else(|| err("it is too large"))?;
            (Format::DecimalExponent, nanos)
        } else {
            let reason = match suffix {
                "K" => "unknown suffix `K` (did you mean `k` for 1000 or `Ki` for 1024?)".to_owned(),
                "Mb" | "MB" | "mb" => format!("unknown suffix `{suffix}` (did you mean `M` or `Mi`?)"),
                "Gb" | "GB" | "gb" => format!("unknown suffix `{suffix}` (did you mean `G` or `Gi`?)"),
                "µ" | "μ" => format!("unknown suffix `{suffix}` (write `u` for micro)"),
                _ if suffix.starts_with('.') => "it has more than one decimal point".to_owned(),
                _ => format!("unknown suffix `{suffix}`"),
            };
            return Err(QuantityError::parse(text, reason));
        };
        let nanos = if negative { -nanos } else { nanos };
        Ok(Quantity { nanos, format, original: Some(Arc::from(text)), from_int: false })
    }

    /// A whole number of units, printed in decimal SI form.
    pub fn from_int(n: i64) -> Quantity {
        // An i64 times 10^9 always fits an i128.
        Quantity { nanos: i128::from(n) * NANOS_PER_UNIT, format: Format::DecimalSi, original: None, from_int: true }
    }

    /// A quantity of `nanos` nano-units in the given family, with no original text.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity { nanos, format, original: None, from_int: false }
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The text the user wrote, if this quantity was parsed rather than computed.
    pub fn original(&self) -> Option<&str> {
        self.original.as_deref()
    }

    /// The int the user wrote (`cpu = 2`), which manifests show as that int: Kubernetes reads
    /// `2` and `"2"` alike, and output keeps what was written.
    pub fn written_int(&self) -> Option<i64> {
        if self.from_int {
            self.to_i64_exact()
        } else {
            None
        }
    }

    /// What manifests show: the original text if any, otherwise the canonical form.
    pub fn as_written(&self) -> String {
        match &self.original {
            Some(text) => text.to_string(),
            None => self.canonical(),
        }
    }

    /// The canonical Kubernetes spelling (what `Display` prints).
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// The value as an integer when it is a whole number of units that fits an `i64`.
    pub fn to_i64_exact(&self) -> Option<i64> {
        if self.nanos % NANOS_PER_UNIT != 0 {
            return None;
        }
        i64::try_from(self.nanos / NANOS_PER_UNIT).ok()
    }

    /// The value in thousandths rounded away from zero, like Kubernetes' `MilliValue()`
    /// (`500m` → 500, `1` → 1000).
    pub fn milli_value(&self) -> Option<i64> {
        i64::try_from(div_away_from_zero(self.nanos, 1_000_000)).ok()
    }

    /// The nearest floating-point value (possibly inexact).
    pub fn to_f64(&self) -> f64 {
        // Splitting keeps the whole part exact up to 2^53 units.
        let whole = (self.nanos / NANOS_PER_UNIT) as f64;
        let frac = (self.nanos % NANOS_PER_UNIT) as f64 / 1e9;
        whole + frac
    }

    /// `self + other`, in `self`'s suffix family (as Kubernetes' `Add`).
    pub fn checked_add(&self, other: &Quantity) -> Result<Quantity, QuantityError> {
        let nanos = self.nanos.checked_add(other.nanos).ok_or_else(|| QuantityError::overflow("quantity addition"))?;
        Ok(Quantity::from_nanos(nanos, self.format))
    }

    /// `self - other`, in `self`'s suffix family.
    pub fn checked_sub(&self, other: &Quantity) -> Result<Quantity, QuantityError> {
        let nanos =
            self.nanos.checked_sub(other.nanos).ok_or_else(|| QuantityError::overflow("quantity subtraction"))?;
        Ok(Quantity::from_nanos(nanos, self.format))
    }

    /// `self * factor`, in `self`'s suffix family.
    pub fn checked_mul_int(&self, factor: i64) -> Result<Quantity, QuantityError> {
        let nanos = self
            .nanos
            .checked_mul(i128::from(factor))
            .ok_or_else(|| QuantityError::overflow("quantity multiplication"))?;
        Ok(Quantity::from_nanos(nanos, self.format))
    }

    /// `-self`.
    pub fn checked_neg(&self) -> Result<Quantity, QuantityError> {
        let nanos = self.nanos.checked_neg().ok_or_else(|| QuantityError::overflow("quantity negation"))?;
        Ok(Quantity::from_nanos(nanos, self.format))
    }

    /// Writes the decimal canonical form: integer mantissa and a power-of-ten exponent that is
    /// a multiple of three, as large as possible.
    fn decimal_parts(&self) -> (i128, i32) {
        let mut mantissa = self.nanos;
        let mut exp = -9i32;
        while mantissa != 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            exp += 1;
        }
        // Move back down to a multiple of three; the factors were just removed, so this fits.
        let r = exp.rem_euclid(3);
        for _ in 0..r {
            mantissa = mantissa.saturating_mul(10);
        }
        (mantissa, exp - r)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == Format::BinarySi {
            let whole = self.nanos % NANOS_PER_UNIT == 0;
            if !whole || self.nanos.abs() < 1024 * NANOS_PER_UNIT {
                format = Format::DecimalSi;
            } else {
                let mut amount = self.nanos / NANOS_PER_UNIT;
                let mut power = 0usize;
                while power + 1 < BINARY_SUFFIXES.len() && amount % 1024 == 0 {
                    amount /= 1024;
                    power += 1;
                }
                let suffix = BINARY_SUFFIXES.get(power).map_or("", |(s, _)| s);
                return write!(f, "{amount}{suffix}");
            }
        }
        let (mut mantissa, mut exp) = self.decimal_parts();
        match format {
            Format::DecimalExponent => {
                if exp == 0 {
                    write!(f, "{mantissa}")
                } else {
                    write!(f, "{mantissa}e{exp}")
                }
            }
            _ => {
                // Decimal SI stops at `E`; larger exponents go back into the mantissa, which
                // cannot overflow because the mantissa only shrank from `nanos`.
                while exp > 18 {
                    mantissa *= 10;
                    exp -= 1;
                }
                let suffix = DECIMAL_SUFFIXES.iter().find(|(_, e)| *e == exp).map_or("", |(s, _)| s);
                write!(f, "{mantissa}{suffix}")
            }
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn canon(s: &str) -> String {
        q(s).to_string()
    }

    #[test]
    fn exact_equalities() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("2e3"), q("2k"));
        assert_eq!(q("1E-3"), q("1m"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("+1"), q("1"));
        assert_eq!(q("-1"), q("-1000m"));
        assert_eq!(q("1."), q("1"));
        assert_eq!(q(".5"), q("500m"));
        assert_eq!(q("1E"), q("1000P"));
        assert_eq!(q("1000000u"), q("1"));
        assert_eq!(q("1n").nanos(), 1);
    }

    #[test]
    fn ordering() {
        assert!(q("100m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-1") < q("0"));
        assert!(q("256Mi") >= q("128Mi"));
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("0Gi", "0"),
            ("-0.0", "0"),
            ("1500m", "1500m"),
            ("1.5", "1500m"),
            ("1000m", "1"),
            ("1000", "1k"),
            ("12000", "12k"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("2", "2"),
            ("1.5Gi", "1536Mi"),
            ("2048Ki", "2Mi"),
            ("128Mi", "128Mi"),
            ("1536", "1536"),
            ("0.5Ki", "512"),
            ("1.1Ki", "1126400m"),
            ("1Ei", "1Ei"),
            ("1024Ei", "1024Ei"),
            ("2e3", "2e3"),
            ("1E-3", "1e-3"),
            ("1500e-3", "1500e-3"),
            ("1e0", "1"),
            ("1e21", "1e21"),
            ("1000000000000000000000", "1000E"),
            ("1e-10", "1e-9"),
            ("0.0000000001", "1n"),
            ("-0.0000000001", "-1n"),
            ("-1.5Gi", "-1536Mi"),
            ("10u", "10u"),
            ("1234567n", "1234567n"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "canonical form of {input}");
        }
    }

    #[test]
    fn original_text_is_kept_until_arithmetic() {
        let a = q("1.5Gi");
        assert_eq!(a.original(), Some("1.5Gi"));
        assert_eq!(a.as_written(), "1.5Gi");
        let sum = a.checked_add(&q("512Mi")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sum.original(), None);
        assert_eq!(sum.as_written(), "2Gi");
    }

    #[test]
    fn arithmetic() {
        let ok = |r: Result<Quantity, QuantityError>| r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok(q("100m").checked_add(&q("900m"))), q("1"));
        assert_eq!(ok(q("100m").checked_add(&q("900m"))).to_string(), "1");
        assert_eq!(ok(q("1Gi").checked_sub(&q("512Mi"))).to_string(), "512Mi");
        assert_eq!(ok(q("250m").checked_mul_int(3)).to_string(), "750m");
        assert_eq!(ok(q("1").checked_sub(&q("2"))).to_string(), "-1");
        let big = Quantity::from_nanos(i128::MAX, Format::DecimalSi);
        assert!(big.checked_add(&q("1n")).is_err());
        assert!(big.checked_mul_int(2).is_err());
        assert!(Quantity::from_nanos(i128::MIN, Format::DecimalSi).checked_neg().is_err());
    }

    #[test]
    fn conversions() {
        assert_eq!(q("2k").to_i64_exact(), Some(2000));
        assert_eq!(q("1500m").to_i64_exact(), None);
        assert_eq!(q("500m").milli_value(), Some(500));
        assert_eq!(q("1").milli_value(), Some(1000));
        assert_eq!(q("1.5").to_f64(), 1.5);
        assert_eq!(Quantity::from_int(3), q("3"));
    }

    #[test]
    fn rejects_malformed_input() {
        let cases = [
            ("", "it is empty"),
            ("abc", "does not start with a number"),
            ("1K", "did you mean `k`"),
            ("1x", "unknown suffix `x`"),
            ("1.2.3", "more than one decimal point"),
            (" 1", "whitespace"),
            ("1 Gi", "whitespace"),
            ("1e", "unknown suffix `e`"),
            ("1e+", "exponent"),
            ("1e3.5", "exponent"),
            ("1Gib", "unknown suffix"),
            ("--1", "does not start with a number"),
            (".", "does not start with a number"),
            ("1e99999999999", "out of range"),
            ("1e400", "too large"),
            ("9999999999999999999999999999999999999999999", "too many digits"),
            ("100000000000000000000000000000000Ei", "too large"),
        ];
        for (input, want) in cases {
            match Quantity::parse(input) {
                Ok(v) => panic!("{input:?} parsed as {v}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{input:?}: {msg}");
                    assert!(msg.contains("binary suffixes Ki Mi Gi"), "{msg}");
                }
            }
        }
    }

    /// Every string of up to four characters over the quantity alphabet: parsing never panics,
    /// and whatever parses prints a canonical form that parses back to the same value.
    #[test]
    fn exhaustive_short_inputs() {
        let alphabet: Vec<char> = "019.+-eEkKmMiGnu µ".chars().collect();
        let mut stack = vec![String::new()];
        let mut n_ok = 0;
        while let Some(s) = stack.pop() {
            if let Ok(v) = Quantity::parse(&s) {
                n_ok += 1;
                assert_eq!(Quantity::parse(&v.to_string()).ok(), Some(v.clone()), "{s:?} -> {v}");
            }
            if s.chars().count() < 4 {
                stack.extend(alphabet.iter().map(|c| format!("{s}{c}")));
            }
        }
        assert!(n_ok > 1000, "{n_ok}");
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let tiny = format!("0.{}1", "0".repeat(100_000));
        assert_eq!(q(&tiny).nanos(), 1);
        assert_eq!(q(&format!("{tiny}e-1000")).nanos(), 1);
        assert_eq!(q(&format!("-{tiny}Ki")).nanos(), -1);
        assert!(Quantity::parse(&format!("1{}", "0".repeat(100_000))).is_err());
        assert!(Quantity::parse("1e-1000").is_ok());
    }

    #[test]
    fn canonical_form_reparses_to_the_same_value() {
        for s in ["1.5Gi", "1.1Ki", "1e21", "1500e-3", "-7.25M", "3Ei", "123456789n", "0.000001"] {
            let a = q(s);
            let again = q(&a.to_string());
            assert_eq!(a, again, "{s} -> {a}");
        }
    }
}
