//! Kubernetes resource quantities (`apimachinery/pkg/api/resource.Quantity`):
//! `100m`, `1.5`, `2Gi`, `500Mi`, `1e3`, `1k`, `0.1`.
//!
//! A [`Quantity`] is exact: an `i128` count of nano-units (10⁻⁹) and the
//! [`Format`] it was written in. Nano is also Kubernetes' finest precision:
//! a finer value is rounded up, away from zero, as Kubernetes rounds it
//! (`0.1n` reads as `1n`). The range is ±1.7·10²⁹ units, far beyond the
//! int64 that Kubernetes' fast path holds.
//!
//! [`Display`](std::fmt::Display) writes the canonical form, as
//! `Quantity.String()` does: the largest suffix of the quantity's format
//! that keeps the number whole (`1.5` → `1500m`, `1.5Gi` → `1536Mi`,
//! `1000` → `1k`, `1e3` → `1e3`). A binary quantity that is not a whole
//! number, or below 1024 in magnitude, is written as a decimal one (`0.5Ki`
//! → `512`).
//!
//! Where this differs from Kubernetes:
//!
//! - Kubernetes keeps the text it parsed when the text was already in its
//!   canonical form, and also for a few forms it mistakes for canonical
//!   (`+1k`, `1.500`, `01Ki` come back as written); here the output is
//!   always canonical (`1k`, `1500m`, `1Ki`).
//! - Kubernetes reads text with no digits (`""` aside) as zero (`-`, `.`,
//!   `Gi`); here it is an error.
//! - A decimal quantity of 10²¹ or more is written with the `E` suffix
//!   (`1000E`), where Kubernetes, out of suffixes, drops the exponent.
//!   A binary one stops at `Ei` likewise.
//! - Numbers with more than 38 significant digits, and values beyond the
//!   `i128` range, are errors ([`ParseError::OutOfRange`]) rather than
//!   arbitrary-precision decimals. Binary quantities are capped at 2⁶³−1,
//!   as Kubernetes caps them.
//!
//! ```
//! use wharf_sdk::quantity::Quantity;
//!
//! let cpu: Quantity = "1.5".parse().unwrap();
//! assert_eq!(cpu.to_string(), "1500m");
//! let memory = Quantity::parse("1Gi").unwrap() + Quantity::parse("512Mi").unwrap();
//! assert_eq!(memory.to_string(), "1536Mi");
//! assert!(Quantity::parse("100m").unwrap() < Quantity::parse("0.2").unwrap());
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as WireQuantity;

/// Nano-units in one unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The largest binary quantity, as Kubernetes caps it: 2⁶³−1 units.
const MAX_BINARY_NANOS: u128 = (i64::MAX as u128) * NANOS_PER_UNIT as u128;

/// Resource names to quantities, as a pod's requests or a quota's `hard`.
pub type ResourceList = BTreeMap<String, Quantity>;

/// How a quantity is written, remembered from the text it was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// `12e6`: a power-of-ten exponent.
    DecimalExponent,
    /// `12Mi`: a power-of-two suffix (`Ki` = 1024 … `Ei` = 1024⁶).
    BinarySI,
    /// `12M`: a power-of-ten suffix (`n`, `u`, `m`, none, `k` … `E`).
    #[default]
    DecimalSI,
}

/// An exact quantity: nano-units and a [`Format`]. Equality and order
/// compare the value only (`1Ki` == `1024`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// Why text is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not of the form `<sign><digits>.<digits><suffix>`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The suffix is not one Kubernetes knows.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// Too many significant digits, or a value beyond ±1.7·10²⁹.
    #[error("quantity out of range")]
    OutOfRange,
}

impl Quantity {
    /// Reads a quantity as Kubernetes' `ParseQuantity` does.
    pub fn parse(text: &str) -> Result<Quantity, ParseError> {
        parse(text)
    }

    /// `nanos` × 10⁻⁹, written in `format`.
    pub const fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity { nanos, format }
    }

    /// `milli` thousandths (`NewMilliQuantity`).
    pub const fn from_milli(milli: i64, format: Format) -> Quantity {
        Quantity::from_nanos(milli as i128 * 1_000_000, format)
    }

    /// Whole units (`NewQuantity`).
    pub const fn from_units(units: i64, format: Format) -> Quantity {
        Quantity::from_nanos(units as i128 * NANOS_PER_UNIT, format)
    }

    /// Zero, written as a decimal quantity (Kubernetes' zero `Quantity`).
    pub const fn zero() -> Quantity {
        Quantity::from_nanos(0, Format::DecimalSI)
    }

    /// The value in nano-units: exact.
    pub const fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded away from zero (`MilliValue`).
    pub fn milli_value(&self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in units, rounded away from zero (`Value`).
    pub fn value(&self) -> i128 {
        div_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// The value rounded away from zero to whole units, in the same format
    /// (`RoundUp(0)`).
    pub fn round_up_to_units(self) -> Quantity {
        Quantity::from_nanos(self.value() * NANOS_PER_UNIT, self.format)
    }

    pub const fn format(&self) -> Format {
        self.format
    }

    /// The same value, written in `format`.
    pub const fn with_format(self, format: Format) -> Quantity {
        Quantity::from_nanos(self.nanos, format)
    }

    pub const fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub const fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// `self + other`, or `None` on overflow. A zero `self` takes `other`'s
    /// format, as `Quantity.Add` does (so `0 + 1Gi` is written `1Gi`).
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_add(other.nanos)?;
        Some(Quantity::from_nanos(nanos, self.sum_format(other)))
    }

    /// `self - other`, or `None` on overflow; formats as [`checked_add`](Self::checked_add).
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_sub(other.nanos)?;
        Some(Quantity::from_nanos(nanos, self.sum_format(other)))
    }

    fn sum_format(self, other: Quantity) -> Format {
        if self.is_zero() {
            other.format
        } else {
            self.format
        }
    }

    /// The value as a float (for ratios and display, not for comparisons).
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// The canonical text, as a k8s-openapi quantity.
    pub fn to_wire(&self) -> WireQuantity {
        WireQuantity(self.to_string())
    }
}

/// Reads a k8s-openapi quantity (its text).
impl TryFrom<&WireQuantity> for Quantity {
    type Error = ParseError;

    fn try_from(wire: &WireQuantity) -> Result<Self, Self::Error> {
        // Kubernetes trims surrounding space when it reads JSON.
        parse(wire.0.trim())
    }
}

impl From<Quantity> for WireQuantity {
    fn from(quantity: Quantity) -> Self {
        quantity.to_wire()
    }
}

impl FromStr for Quantity {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
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

/// Saturating at the `i128` range; see [`Quantity::checked_add`] for the format.
impl Add for Quantity {
    type Output = Quantity;

    fn add(self, other: Quantity) -> Quantity {
        Quantity::from_nanos(
            self.nanos.saturating_add(other.nanos),
            self.sum_format(other),
        )
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, other: Quantity) {
        *self = *self + other;
    }
}

/// Saturating at the `i128` range; see [`Quantity::checked_add`] for the format.
impl Sub for Quantity {
    type Output = Quantity;

    fn sub(self, other: Quantity) -> Quantity {
        Quantity::from_nanos(
            self.nanos.saturating_sub(other.nanos),
            self.sum_format(other),
        )
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, other: Quantity) {
        *self = *self - other;
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_neg(), self.format)
    }
}

impl fmt::Display for Quantity {
    /// The canonical form (`CanonicalizeBytes`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let binary = self.format == Format::BinarySI
            && self.nanos.unsigned_abs() >= 1024 * NANOS_PER_UNIT as u128
            && self.nanos % NANOS_PER_UNIT == 0;
        if binary {
            let mut units = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() && units % 1024 == 0 {
                units /= 1024;
                power += 1;
            }
            let suffix = if power == 0 {
                ""
            } else {
                BINARY_SUFFIXES[power - 1]
            };
            return write!(f, "{units}{suffix}");
        }
        let (mantissa, exponent) = decimal_canonical(self.nanos);
        match self.format {
            Format::DecimalExponent if exponent == 0 => write!(f, "{mantissa}"),
            Format::DecimalExponent => write!(f, "{mantissa}e{exponent}"),
            // A binary quantity that is not whole or is small is written as a decimal one.
            Format::DecimalSI | Format::BinarySI => {
                if exponent > 18 {
                    // Out of suffixes: the mantissa carries the rest.
                    let scale = 10i128.pow((exponent - 18) as u32);
                    return write!(f, "{}E", mantissa * scale);
                }
                let suffix = match exponent {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    0 => "",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    _ => "E",
                };
                write!(f, "{mantissa}{suffix}")
            }
        }
    }
}

/// `Ki` … `Ei`: 1024¹ … 1024⁶.
const BINARY_SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The mantissa and power-of-ten exponent of `nanos`: the exponent a
/// multiple of three, as large as keeps the mantissa whole.
fn decimal_canonical(nanos: i128) -> (i128, i32) {
    let mut mantissa = nanos;
    let mut exponent: i32 = -9;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    // Back down to a multiple of three; never past the -9 it started from,
    // so the mantissa never grows beyond `nanos`.
    let extra = exponent.rem_euclid(3);
    (mantissa * 10i128.pow(extra as u32), exponent - extra)
}

fn div_away_from_zero(value: i128, divisor: i128) -> i128 {
    let quotient = value / divisor;
    match (value % divisor).signum() {
        1 => quotient + 1,
        -1 => quotient - 1,
        _ => quotient,
    }
}

/// A suffix's base-10 and base-2 exponents and format.
fn interpret_suffix(suffix: &str) -> Option<(i32, u32, Format)> {
    let decimal = |exponent| Some((exponent, 0, Format::DecimalSI));
    let binary = |exponent| Some((0, exponent, Format::BinarySI));
    let known = |suffix: &str| match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => None,
    };
    if let Some(found) = known(suffix) {
        return Some(found);
    }
    if suffix.len() > 1 && suffix.starts_with(['e', 'E']) {
        let exponent: i32 = suffix[1..].parse().ok()?;
        return Some((exponent, 0, Format::DecimalExponent));
    }
    // Kubernetes forgives the wrong case of the first letter only (`1K`, `1ki`).
    let mut chars = suffix.chars();
    let first = chars.next()?;
    let flipped = if first.is_ascii_lowercase() {
        first.to_ascii_uppercase()
    } else {
        first.to_ascii_lowercase()
    };
    known(&format!("{flipped}{}", chars.as_str()))
}

fn parse(text: &str) -> Result<Quantity, ParseError> {
    let bytes = text.as_bytes();
    let digits_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |offset| from + offset)
    };
    let (negative, mut pos) = match bytes.first() {
        None => return Err(ParseError::Format),
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        Some(_) => (false, 0),
    };
    let whole_end = digits_end(pos);
    let whole = &text[pos..whole_end];
    pos = whole_end;
    let mut fraction = "";
    if bytes.get(pos) == Some(&b'.') {
        let fraction_end = digits_end(pos + 1);
        fraction = &text[pos + 1..fraction_end];
        pos = fraction_end;
    }
    if whole.is_empty() && fraction.is_empty() {
        return Err(ParseError::Format);
    }
    // The suffix: letters of the set, an optional sign, digits; nothing after.
    let suffix_start = pos;
    while pos < bytes.len() && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    if digits_end(pos) != bytes.len() {
        return Err(ParseError::Format);
    }
    let (exponent10, exponent2, mut format) =
        interpret_suffix(&text[suffix_start..]).ok_or(ParseError::Suffix)?;

    // The value is digits × 10^(exponent10 − fraction digits) × 2^exponent2.
    let digits = whole.bytes().chain(fraction.bytes());
    let significant = digits.skip_while(|digit| *digit == b'0');
    let significant: Vec<u8> = significant.collect();
    let trailing_zeros = significant.iter().rev().take_while(|d| **d == b'0').count();
    let significant = &significant[..significant.len() - trailing_zeros];
    if significant.len() > 38 {
        return Err(ParseError::OutOfRange);
    }
    let mut magnitude: u128 = 0;
    for digit in significant {
        magnitude = magnitude * 10 + u128::from(digit - b'0');
    }
    magnitude = magnitude
        .checked_mul(1u128 << exponent2)
        .ok_or(ParseError::OutOfRange)?;
    let scale = i64::from(exponent10) - fraction.len() as i64 + trailing_zeros as i64 + 9;
    magnitude = if magnitude == 0 {
        0
    } else if scale >= 0 {
        let factor = u32::try_from(scale)
            .ok()
            .and_then(|scale| 10u128.checked_pow(scale))
            .ok_or(ParseError::OutOfRange)?;
        magnitude
            .checked_mul(factor)
            .ok_or(ParseError::OutOfRange)?
    } else {
        // Finer than nano: round the magnitude up (Kubernetes' `inf.RoundUp`).
        match u32::try_from(-scale)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
        {
            Some(divisor) => magnitude.div_ceil(divisor),
            None => 1,
        }
    };
    if format == Format::BinarySI {
        magnitude = magnitude.min(MAX_BINARY_NANOS);
        if magnitude > 0 && magnitude < NANOS_PER_UNIT as u128 {
            format = Format::DecimalSI;
        }
    }
    let nanos = i128::try_from(magnitude).map_err(|_| ParseError::OutOfRange)?;
    Ok(Quantity::from_nanos(
        if negative { -nanos } else { nanos },
        format,
    ))
}

/// Reads a k8s-openapi resource list (a pod's requests, a quota's `hard`).
/// Entries that are not quantities are left out: the API server is where
/// they are refused.
pub fn resource_list(wire: Option<&BTreeMap<String, WireQuantity>>) -> ResourceList {
    wire.into_iter()
        .flatten()
        .filter_map(|(name, quantity)| Some((name.clone(), Quantity::try_from(quantity).ok()?)))
        .collect()
}

/// A resource list as k8s-openapi quantities, each in canonical form.
pub fn to_wire_list(list: &ResourceList) -> BTreeMap<String, WireQuantity> {
    list.iter()
        .map(|(name, quantity)| (name.clone(), quantity.to_wire()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: i128 = 1;
    const U: i128 = 1_000_000_000;

    #[test]
    fn every_form_kubernetes_accepts_parses_exactly() {
        let cases: &[(&str, i128, Format)] = &[
            ("0", 0, Format::DecimalSI),
            ("100m", 100_000_000 * N, Format::DecimalSI),
            ("1.5", 1_500_000_000 * N, Format::DecimalSI),
            ("0.1", 100_000_000 * N, Format::DecimalSI),
            (".5", 500_000_000 * N, Format::DecimalSI),
            ("5.", 5 * U, Format::DecimalSI),
            ("+5", 5 * U, Format::DecimalSI),
            ("-5m", -5_000_000 * N, Format::DecimalSI),
            ("007", 7 * U, Format::DecimalSI),
            ("1k", 1000 * U, Format::DecimalSI),
            ("1M", 1_000_000 * U, Format::DecimalSI),
            ("1G", 1_000_000_000 * U, Format::DecimalSI),
            ("1T", 1_000_000_000_000 * U, Format::DecimalSI),
            ("1E", 1_000_000_000_000_000_000 * U, Format::DecimalSI),
            ("3n", 3 * N, Format::DecimalSI),
            ("3u", 3_000 * N, Format::DecimalSI),
            ("2Gi", 2 * (1 << 30) * U, Format::BinarySI),
            ("500Mi", 500 * (1 << 20) * U, Format::BinarySI),
            ("1.5Gi", 1_610_612_736 * U, Format::BinarySI),
            ("1Ei", (1 << 60) * U, Format::BinarySI),
            ("1e3", 1000 * U, Format::DecimalExponent),
            ("1E3", 1000 * U, Format::DecimalExponent),
            ("1e+3", 1000 * U, Format::DecimalExponent),
            ("1e-3", 1_000_000 * N, Format::DecimalExponent),
            ("1.5e3", 1500 * U, Format::DecimalExponent),
            // The first letter's case is forgiven.
            ("1K", 1000 * U, Format::DecimalSI),
            ("1ki", 1024 * U, Format::BinarySI),
            ("1mi", (1 << 20) * U, Format::BinarySI),
            // `e` alone is `E` (exa), by the same forgiveness.
            ("1e", 1_000_000_000_000_000_000 * U, Format::DecimalSI),
            // Finer than nano rounds up, away from zero.
            ("0.1n", N, Format::DecimalSI),
            ("-0.1n", -N, Format::DecimalSI),
            ("1.0000000001", U + N, Format::DecimalSI),
            ("1e-20", N, Format::DecimalExponent),
            // A fraction of one in binary form becomes decimal.
            ("0.0001Ki", 102_400_000 * N, Format::DecimalSI),
            // Many digits are fine when they are zeros.
            (
                "1.000000000000000000000000000000000000000000",
                U,
                Format::DecimalSI,
            ),
            // Binary quantities are capped at 2^63-1.
            ("8Ei", i64::MAX as i128 * U, Format::BinarySI),
        ];
        for (text, nanos, format) in cases {
            let quantity = Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (quantity.nanos(), quantity.format()),
                (*nanos, *format),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_a_quantity_is_refused() {
        let cases: &[(&str, ParseError)] = &[
            ("", ParseError::Format),
            ("-", ParseError::Format),
            (".", ParseError::Format),
            ("Gi", ParseError::Format),
            ("abc", ParseError::Format),
            ("1 Gi", ParseError::Format),
            ("1.5.5", ParseError::Format),
            ("1e3.5", ParseError::Format),
            ("1gi", ParseError::Format),
            ("1Ki3", ParseError::Suffix),
            ("1Qi", ParseError::Format),
            ("1iK", ParseError::Suffix),
            ("1KI", ParseError::Format),
            ("1e400", ParseError::OutOfRange),
            (
                "123456789012345678901234567890123456789",
                ParseError::OutOfRange,
            ),
            ("1000000000000000000000000000000", ParseError::OutOfRange),
        ];
        for (text, error) in cases {
            assert_eq!(Quantity::parse(text), Err(error.clone()), "{text}");
        }
    }

    #[test]
    fn quantities_print_in_kubernetes_canonical_form() {
        let cases: &[(&str, &str)] = &[
            ("0", "0"),
            ("0Gi", "0"),
            ("0.0", "0"),
            ("100m", "100m"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1k", "1k"),
            ("1M", "1M"),
            ("1000M", "1G"),
            ("3", "3"),
            ("2Gi", "2Gi"),
            ("1.5Gi", "1536Mi"),
            ("1536Mi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("1025Ki", "1025Ki"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("1.5Ki", "1536"),
            ("0.3Ki", "307200m"),
            ("0.0001Ki", "102400u"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("100e-3", "100e-3"),
            ("1e-3", "1e-3"),
            ("1e6", "1e6"),
            ("12e6", "12e6"),
            ("1.234", "1234m"),
            ("0.1m", "100u"),
            ("0.1n", "1n"),
            ("-1.5", "-1500m"),
            ("-2Gi", "-2Gi"),
            ("+1k", "1k"),
            ("01Ki", "1Ki"),
            ("1000E", "1000E"),
            ("1e21", "1e21"),
            ("8Ei", "9223372036854775807"),
        ];
        for (text, canonical) in cases {
            let quantity = Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(quantity.to_string(), *canonical, "{text}");
            // The canonical form reads back as the same value and prints the same.
            let again = Quantity::parse(canonical).unwrap();
            assert_eq!(again, quantity, "{text}");
            assert_eq!(again.to_string(), *canonical, "{text}");
        }
    }

    #[test]
    fn arithmetic_is_exact_and_keeps_the_first_nonzero_format() {
        let q = |text: &str| Quantity::parse(text).unwrap();
        let cases: &[(&str, char, &str, &str)] = &[
            ("100m", '+', "200m", "300m"),
            ("0.1", '+', "0.2", "300m"),
            ("1", '+', "500m", "1500m"),
            ("1Gi", '+', "512Mi", "1536Mi"),
            ("1Gi", '-', "512Mi", "512Mi"),
            ("1Gi", '+', "1", "1073741825"),
            ("1", '+', "1Gi", "1073741825"),
            ("0", '+', "1Gi", "1Gi"),
            ("0", '-', "1Gi", "-1Gi"),
            ("1e3", '+', "1e3", "2e3"),
            ("1", '-', "1", "0"),
            ("100m", '-', "1", "-900m"),
        ];
        for (a, op, b, expected) in cases {
            let result = match op {
                '+' => q(a) + q(b),
                _ => q(a) - q(b),
            };
            assert_eq!(result.to_string(), *expected, "{a} {op} {b}");
        }
        let max = Quantity::from_nanos(i128::MAX, Format::DecimalSI);
        assert_eq!(max.checked_add(q("1n")), None);
        assert_eq!((max + q("1")).nanos(), i128::MAX);
        assert_eq!((-q("1Gi")).to_string(), "-1Gi");
    }

    #[test]
    fn comparisons_ignore_the_format() {
        let q = |text: &str| Quantity::parse(text).unwrap();
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("0.5"), q("500m"));
        assert!(q("100m") < q("0.2"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-1") < q("0"));
        assert_eq!(q("1Gi").max(q("1G")).to_string(), "1Gi");
    }

    #[test]
    fn values_round_away_from_zero_as_kubernetes_does() {
        let q = |text: &str| Quantity::parse(text).unwrap();
        let cases: &[(&str, i128, i128)] = &[
            ("1", 1, 1000),
            ("100m", 1, 100),
            ("1.5", 2, 1500),
            ("0.1m", 1, 1),
            ("-0.1m", -1, -1),
            ("-1.5", -2, -1500),
            ("2Gi", 2 << 30, (2 << 30) * 1000),
        ];
        for (text, value, milli) in cases {
            assert_eq!(
                (q(text).value(), q(text).milli_value()),
                (*value, *milli),
                "{text}"
            );
        }
        assert_eq!(q("1.2").round_up_to_units().to_string(), "2");
        assert_eq!(q("1500m").as_f64(), 1.5);
    }

    #[test]
    fn wire_quantities_convert_both_ways() {
        let wire = WireQuantity(" 1.5Gi ".to_owned());
        let quantity = Quantity::try_from(&wire).unwrap();
        assert_eq!(
            WireQuantity::from(quantity),
            WireQuantity("1536Mi".to_owned())
        );
        let list = resource_list(Some(&BTreeMap::from([
            ("cpu".to_owned(), WireQuantity("0.5".to_owned())),
            ("memory".to_owned(), WireQuantity("lots".to_owned())),
        ])));
        assert_eq!(list.len(), 1);
        assert_eq!(to_wire_list(&list)["cpu"], WireQuantity("500m".to_owned()));
        assert!(resource_list(None).is_empty());
    }
}
