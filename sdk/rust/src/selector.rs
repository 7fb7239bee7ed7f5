//! Label selectors: matching labels against a `LabelSelector` and writing it
//! as the text a list call takes (`app=web,tier in (a,b)`), as apimachinery's
//! `LabelSelectorAsSelector` and `labels.Parse` do.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::error::{Error, Result};

/// A parsed label selector: requirements that must all hold, sorted by key.
/// The empty selector matches everything.
///
/// ```
/// use std::collections::BTreeMap;
/// use wharf_sdk::Selector;
/// use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
///
/// let selector = Selector::from_label_selector(&LabelSelector {
///     match_labels: Some(BTreeMap::from([("app".to_owned(), "web".to_owned())])),
///     match_expressions: Some(vec![LabelSelectorRequirement {
///         key: "tier".to_owned(),
///         operator: "In".to_owned(),
///         values: Some(vec!["b".to_owned(), "a".to_owned()]),
///     }]),
/// })
/// .unwrap();
/// assert_eq!(selector.to_string(), "app=web,tier in (a,b)");
/// let labels = BTreeMap::from([("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "a".to_owned())]);
/// assert!(selector.matches(&labels));
/// assert_eq!(Selector::parse("app=web,tier in (a,b)").unwrap(), selector);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One condition on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted; one value for `Equals`/`NotEquals`, none for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

/// How a [`Requirement`] compares a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `key=value` (also `key==value`).
    Equals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Whether this selector matches every object.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The selector a `LabelSelector` means: `matchLabels` as equalities and
    /// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`. An
    /// empty `LabelSelector` matches everything; an unknown operator, or
    /// values where there must be none (or none where there must be some),
    /// is [`Error::Invalid`].
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Self> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key, Operator::Equals, [value.as_str()])?);
        }
        for expression in selector.match_expressions.iter().flatten() {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(Error::Invalid(format!(
                        "{other:?} is not a valid label selector operator"
                    )));
                }
            };
            let values = expression.values.iter().flatten().map(String::as_str);
            requirements.push(Requirement::new(&expression.key, operator, values)?);
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// Parses the text form (`app=web,tier in (a,b),!canary`), as
    /// `labels.Parse` does (without the `>`/`<` operators).
    pub fn parse(text: &str) -> Result<Self> {
        Parser::new(text).parse()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(labels))
    }

    /// [`matches`](Selector::matches) for an object's optional labels.
    pub fn matches_labels(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match labels {
            Some(labels) => self.matches(labels),
            None => self.matches(&BTreeMap::new()),
        }
    }

    fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }
}

impl TryFrom<&LabelSelector> for Selector {
    type Error = Error;

    fn try_from(selector: &LabelSelector) -> Result<Self> {
        Selector::from_label_selector(selector)
    }
}

impl fmt::Display for Selector {
    /// The text a list call takes; empty for the everything selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl Requirement {
    /// A checked requirement: a non-empty key; exactly one value for
    /// equalities, at least one for `In`/`NotIn`, none for the existence operators.
    pub fn new<'v>(
        key: &str,
        operator: Operator,
        values: impl IntoIterator<Item = &'v str>,
    ) -> Result<Self> {
        let mut values: Vec<String> = values.into_iter().map(str::to_owned).collect();
        check_key(key)?;
        for value in &values {
            check_value(value)?;
        }
        let count_is_valid = match operator {
            Operator::Equals | Operator::NotEquals => values.len() == 1,
            Operator::In | Operator::NotIn => !values.is_empty(),
            Operator::Exists | Operator::DoesNotExist => values.is_empty(),
        };
        if !count_is_valid {
            return Err(Error::Invalid(format!(
                "label selector requirement on {key:?}: operator {operator:?} cannot take {} value(s)",
                values.len()
            )));
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_owned(),
            operator,
            values,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::In => {
                value.is_some_and(|value| self.values.contains(value))
            }
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|value| !self.values.contains(value))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match self.operator {
            Operator::Equals => write!(f, "{key}={}", self.values[0]),
            Operator::NotEquals => write!(f, "{key}!={}", self.values[0]),
            Operator::In => write!(f, "{key} in ({})", self.values.join(",")),
            Operator::NotIn => write!(f, "{key} notin ({})", self.values.join(",")),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 317 || !key.chars().all(is_label_char) {
        return Err(Error::Invalid(format!("{key:?} is not a valid label key")));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<()> {
    if value.len() > 63
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::Invalid(format!(
            "{value:?} is not a valid label value"
        )));
    }
    Ok(())
}

/// A small recursive-descent parser over the selector text.
struct Parser<'a> {
    text: &'a str,
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, rest: text }
    }

    fn parse(mut self) -> Result<Selector> {
        let mut requirements = Vec::new();
        self.skip_spaces();
        if self.rest.is_empty() {
            return Ok(Selector::everything());
        }
        loop {
            requirements.push(self.requirement()?);
            self.skip_spaces();
            if self.rest.is_empty() {
                return Ok(Selector::from_requirements(requirements));
            }
            self.expect(",")?;
        }
    }

    fn requirement(&mut self) -> Result<Requirement> {
        self.skip_spaces();
        if self.eat("!") {
            let key = self.word();
            return Requirement::new(key, Operator::DoesNotExist, []);
        }
        let key = self.word();
        self.skip_spaces();
        if self.rest.is_empty() || self.rest.starts_with(',') {
            return Requirement::new(key, Operator::Exists, []);
        }
        if self.eat("!=") {
            let value = self.value();
            return Requirement::new(key, Operator::NotEquals, [value]);
        }
        if self.eat("==") || self.eat("=") {
            let value = self.value();
            return Requirement::new(key, Operator::Equals, [value]);
        }
        let operator = match self.word() {
            "in" => Operator::In,
            "notin" => Operator::NotIn,
            _ => return Err(self.error("expected =, ==, !=, in or notin")),
        };
        self.skip_spaces();
        self.expect("(")?;
        let mut values = Vec::new();
        self.skip_spaces();
        if self.eat(")") {
            return Requirement::new(key, operator, values);
        }
        loop {
            values.push(self.value());
            self.skip_spaces();
            if self.eat(")") {
                break;
            }
            self.expect(",")?;
        }
        Requirement::new(key, operator, values)
    }

    fn value(&mut self) -> &'a str {
        self.skip_spaces();
        self.word()
    }

    fn word(&mut self) -> &'a str {
        let end = self
            .rest
            .find(|c: char| !is_label_char(c))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, token: &str) -> Result<()> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {token:?}")))
        }
    }

    fn error(&self, message: &str) -> Error {
        let position = self.text.len() - self.rest.len();
        Error::Invalid(format!(
            "label selector {:?} at {position}: {message}",
            self.text
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn label_selectors_match_as_kubernetes_does() {
        type Labels = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Labels, bool)] = &[
            ("", &[], true),
            ("", &[("a", "b")], true),
            ("app=web", &[("app", "web")], true),
            ("app==web", &[("app", "web"), ("x", "y")], true),
            ("app=web", &[("app", "db")], false),
            ("app=web", &[], false),
            ("app!=web", &[], true),
            ("app!=web", &[("app", "web")], false),
            ("tier in (a,b)", &[("tier", "b")], true),
            ("tier in (a,b)", &[("tier", "c")], false),
            ("tier in (a,b)", &[], false),
            ("tier notin (a,b)", &[], true),
            ("tier notin (a,b)", &[("tier", "a")], false),
            ("canary", &[("canary", "")], true),
            ("canary", &[], false),
            ("!canary", &[], true),
            ("!canary", &[("canary", "yes")], false),
            (
                "app=web, tier in ( a , b ),!canary",
                &[("app", "web"), ("tier", "a")],
                true,
            ),
            (
                "app=web,tier in (a,b),!canary",
                &[("app", "web"), ("tier", "a"), ("canary", "1")],
                false,
            ),
            ("app=", &[("app", "")], true),
        ];
        for (text, pairs, expected) in cases {
            let selector = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                selector.matches(&labels(pairs)),
                *expected,
                "{text} on {pairs:?}"
            );
        }
    }

    #[test]
    fn malformed_selectors_are_invalid() {
        for text in [
            "app in a",
            "app in (a",
            "app >= 3",
            "=x",
            "a=b,",
            "tier notin ()",
            "a=b c",
        ] {
            assert!(
                matches!(Selector::parse(text), Err(Error::Invalid(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn label_selector_objects_convert_to_sorted_text() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("z", "1"), ("app", "web")])),
            match_expressions: Some(vec![
                expression("tier", "NotIn", &["b", "a"]),
                expression("gone", "DoesNotExist", &[]),
                expression("here", "Exists", &[]),
            ]),
        };
        let selector = Selector::from_label_selector(&selector).unwrap();
        assert_eq!(
            selector.to_string(),
            "app=web,!gone,here,tier notin (a,b),z=1"
        );
        assert_eq!(Selector::parse(&selector.to_string()).unwrap(), selector);
    }

    #[test]
    fn an_empty_label_selector_matches_everything() {
        let selector = Selector::from_label_selector(&LabelSelector::default()).unwrap();
        assert!(selector.is_everything());
        assert_eq!(selector.to_string(), "");
        assert!(selector.matches_labels(None));
    }

    #[test]
    fn bad_label_selector_expressions_are_invalid() {
        for expression in [
            expression("a", "Equals", &["x"]),
            expression("a", "In", &[]),
            expression("a", "Exists", &["x"]),
            expression("", "Exists", &[]),
        ] {
            let selector = LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![expression.clone()]),
            };
            assert!(
                Selector::from_label_selector(&selector).is_err(),
                "{expression:?}"
            );
        }
    }
}
