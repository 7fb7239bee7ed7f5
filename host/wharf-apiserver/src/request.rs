//! What a request names and asks for: the resource path, the query, and the
//! negotiated response form.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use crate::error::{ApiError, ApiResult};
use crate::resources::{Registry, ResourceDef};

/// The object or collection a resource path names.
#[derive(Clone, Debug)]
pub struct Target {
    pub resource: Arc<ResourceDef>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses the segments after `/api/v1/` or `/apis/{group}/{version}/`.
pub fn parse_target(
    registry: &Registry,
    group: &str,
    version: &str,
    rest: &str,
) -> ApiResult<Target> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let unknown = |plural: &str| {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        ApiError::NoSuchPath(format!(
            "the server could not find the requested resource ({plural} in {gv})"
        ))
    };
    let lookup = |plural: &str| {
        registry
            .get(group, version, plural)
            .ok_or_else(|| unknown(plural))
    };
    let namespaced_at = |plural: &str| {
        registry
            .get(group, version, plural)
            .is_some_and(|d| d.namespaced)
    };
    // `…/NAME/proxy/PATH`: the path goes with the subresource.
    let proxied = |rest: &[&str]| format!("proxy/{}", rest.join("/"));
    let target = match segments.as_slice() {
        ["namespaces", namespace, plural, rest @ ..] if namespaced_at(plural) => {
            let (name, subresource) = match rest {
                [] => (None, None),
                [name] => (Some(*name), None),
                [name, sub] => (Some(*name), Some(sub.to_string())),
                [name, "proxy", rest @ ..] => (Some(*name), Some(proxied(rest))),
                _ => return Err(unknown(plural)),
            };
            Target {
                resource: lookup(plural)?,
                namespace: Some(namespace.to_string()),
                name: name.map(String::from),
                subresource,
            }
        }
        [plural] => Target {
            resource: lookup(plural)?,
            namespace: None,
            name: None,
            subresource: None,
        },
        [plural, name] => {
            let resource = lookup(plural)?;
            if resource.namespaced {
                return Err(ApiError::NoSuchPath(format!(
                    "the server could not find the requested resource: {plural} is namespaced; use /namespaces/{{namespace}}/{plural}/{name}"
                )));
            }
            Target {
                resource,
                namespace: None,
                name: Some(name.to_string()),
                subresource: None,
            }
        }
        [plural, name, sub] => {
            let resource = lookup(plural)?;
            if resource.namespaced {
                return Err(unknown(sub));
            }
            Target {
                resource,
                namespace: None,
                name: Some(name.to_string()),
                subresource: Some(sub.to_string()),
            }
        }
        [] => {
            return Err(ApiError::NoSuchPath(
                "the server could not find the requested resource".into(),
            ));
        }
        [plural, name, "proxy", rest @ ..] => {
            let resource = lookup(plural)?;
            if resource.namespaced {
                return Err(unknown("proxy"));
            }
            Target {
                resource,
                namespace: None,
                name: Some(name.to_string()),
                subresource: Some(proxied(rest)),
            }
        }
        [plural, ..] => return Err(unknown(plural)),
    };
    if let Some(namespace) = &target.namespace
        && !crate::meta::is_dns1123_label(namespace)
    {
        return Err(ApiError::NotFound {
            group: String::new(),
            kind: "namespaces".into(),
            name: namespace.clone(),
        });
    }
    Ok(target)
}

/// The query string as a map (the last value of a repeated key wins).
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = form_urlencoded_pairs(query.unwrap_or_default());
        Self(pairs.into_iter().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "Invalid dry run value: unsupported dry run option \"{other}\""
            ))),
        }
    }

    /// `fieldValidation`: Strict fails on unknown fields; Warn (the default)
    /// and Ignore accept them.
    pub fn strict(&self) -> ApiResult<bool> {
        match self.get("fieldValidation") {
            None | Some("Warn" | "Ignore") => Ok(false),
            Some("Strict") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "Invalid field validation directive: \"{other}\"; must be one of Ignore, Warn or Strict"
            ))),
        }
    }

    /// The warnings of decoding a body (unknown and duplicate fields),
    /// unless `fieldValidation=Ignore` drops them silently.
    pub fn field_warnings(&self, warnings: Vec<String>) -> Vec<String> {
        if self.get("fieldValidation") == Some("Ignore") {
            Vec::new()
        } else {
            warnings
        }
    }

    pub fn usize(&self, key: &str) -> ApiResult<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::BadRequest(format!("invalid {key}: {v:?}")))
            })
            .transpose()
            .map(|v| v.and_then(|v| usize::try_from(v).ok()))
    }
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The response form the client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

/// Reads `Accept`: a Table if the client lists `as=Table` for meta.k8s.io v1
/// (or v1beta1), JSON otherwise; 406 if it accepts neither.
pub fn negotiate(headers: &HeaderMap) -> ApiResult<Format> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let mut json_ok = false;
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        if !matches!(media_type, "application/json" | "application/*" | "*/*") {
            continue;
        }
        match params.get("as") {
            Some(&"Table") if params.get("g") == Some(&"meta.k8s.io") => return Ok(Format::Table),
            Some(_) => continue,
            None => json_ok = true,
        }
    }
    if json_ok {
        Ok(Format::Json)
    } else {
        Err(ApiError::NotAcceptable(format!(
            "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io (got {accept})"
        )))
    }
}

/// Whether `Accept` asks for aggregated discovery.
pub fn wants_aggregated_discovery(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2")
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn paths_resolve_namespaced_cluster_and_subresource_targets() {
        let registry = Registry::builtin();
        let t = parse_target(&registry, "", "v1", "namespaces/default/pods/x/status").unwrap();
        assert_eq!(
            (
                t.resource.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("x"), Some("status"))
        );
        let t = parse_target(&registry, "", "v1", "namespaces/default").unwrap();
        assert_eq!(
            (t.resource.plural, t.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let t = parse_target(&registry, "", "v1", "namespaces/default/status").unwrap();
        assert_eq!(
            (t.resource.plural, t.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let t = parse_target(&registry, "", "v1", "pods").unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        let t = parse_target(&registry, "apps", "v1", "namespaces/a/deployments/d/scale").unwrap();
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        let t = parse_target(&registry, "", "v1", "nodes/n1/proxy/stats/summary").unwrap();
        assert_eq!(
            (
                t.resource.plural,
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("nodes", Some("n1"), Some("proxy/stats/summary"))
        );
        let t = parse_target(&registry, "", "v1", "nodes/n1/proxy").unwrap();
        assert_eq!(t.subresource.as_deref(), Some("proxy"));
        let t = parse_target(&registry, "", "v1", "namespaces/a/pods/p/exec").unwrap();
        assert_eq!(t.subresource.as_deref(), Some("exec"));
        assert!(parse_target(&registry, "", "v1", "namespaces/a/pods/p/status/more").is_err());
        assert!(parse_target(&registry, "", "v1", "widgets").is_err());
        assert!(parse_target(&registry, "", "v1", "namespaces/Bad_NS/pods").is_err());
    }

    #[test]
    fn queries_decode_percent_escapes() {
        let query = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&watch=1",
        ));
        assert_eq!(query.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(query.usize("limit").unwrap(), Some(5));
        assert!(query.flag("watch"));
    }

    #[test]
    fn accept_negotiates_tables_and_json() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert_eq!(negotiate(&headers).unwrap(), Format::Table);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, */*"),
        );
        assert_eq!(negotiate(&headers).unwrap(), Format::Json);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
        );
        assert!(negotiate(&headers).is_err());
    }
}
