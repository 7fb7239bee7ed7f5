//! Field selectors as the fake cluster reads them: `path=value`,
//! `path==value` and `path!=value` terms joined by commas, over any dotted
//! path of the object's JSON (the API server allows only a few per kind).

use serde_json::Value;

use crate::error::{Error, Result};

pub(crate) struct FieldSelector {
    terms: Vec<Term>,
}

struct Term {
    path: Vec<String>,
    equals: bool,
    value: String,
}

impl FieldSelector {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let mut terms = Vec::new();
        for term in text
            .split(',')
            .map(str::trim)
            .filter(|term| !term.is_empty())
        {
            let (path, equals, value) = if let Some((path, value)) = term.split_once("!=") {
                (path, false, value)
            } else if let Some((path, value)) = term.split_once("==") {
                (path, true, value)
            } else if let Some((path, value)) = term.split_once('=') {
                (path, true, value)
            } else {
                return Err(Error::Invalid(format!(
                    "field selector term {term:?} has no =, == or !="
                )));
            };
            let path = path.trim();
            if path.is_empty() {
                return Err(Error::Invalid(format!(
                    "field selector term {term:?} has no field"
                )));
            }
            terms.push(Term {
                path: path.split('.').map(str::to_owned).collect(),
                equals,
                value: value.trim().to_owned(),
            });
        }
        Ok(FieldSelector { terms })
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|term| {
            let field = term
                .path
                .iter()
                .try_fold(object, |value, key| value.get(key));
            let field = match field {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (field == term.value) == term.equals
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_selectors_compare_dotted_paths_as_text() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1", "priority": 3}});
        let cases = [
            ("metadata.name=a", true),
            ("metadata.name==a,metadata.namespace=ns", true),
            ("metadata.name!=a", false),
            ("spec.nodeName=n2", false),
            ("spec.priority=3", true),
            ("spec.missing=", true),
            ("spec.missing!=", false),
            ("", true),
        ];
        for (text, expected) in cases {
            assert_eq!(
                FieldSelector::parse(text).unwrap().matches(&pod),
                expected,
                "{text}"
            );
        }
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
