//! Checks a component against a world of `wit/` before it is uploaded or
//! compiled: what it imports that the host does not give that world, and
//! what the world needs that it does not export — each with how to fix it.
//! Reading a component's types takes milliseconds; compiling a Python or
//! JavaScript guest takes seconds, so a wrong build is named before that.

use std::collections::BTreeMap;
use std::path::Path;

use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

/// WASI packages the host links for every world (wasmtime-wasi's p2 set).
const HOST_WASI: &[&str] = &["cli", "io", "clocks", "random", "filesystem", "sockets"];

/// The worlds a Plugin's `spec.type` names, and the export that tells
/// each apart.
const WORLDS: &[(&str, &str)] = &[
    ("controller", "reconciler"),
    ("scheduler", "policy"),
    ("admission", "review"),
    ("cloud-provider", "cloud"),
    ("addon", "lifecycle"),
];

/// What a world imports and exports: interface names without their
/// version (`wharf:plugin/cluster`), each with its version.
struct Shape {
    imports: BTreeMap<String, String>,
    exports: BTreeMap<String, String>,
}

fn shape(resolve: &Resolve, world: WorldId) -> Shape {
    let name = |key: &WorldKey| -> (String, String) {
        match key {
            WorldKey::Name(name) => (name.clone(), String::new()),
            WorldKey::Interface(id) => {
                let interface = &resolve.interfaces[*id];
                let own = interface.name.clone().unwrap_or_default();
                match interface.package {
                    Some(package) => {
                        let package = &resolve.packages[package].name;
                        let version = package
                            .version
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        (
                            format!("{}:{}/{own}", package.namespace, package.name),
                            version,
                        )
                    }
                    None => (own, String::new()),
                }
            }
        }
    };
    let world = &resolve.worlds[world];
    Shape {
        imports: world
            .imports
            .iter()
            .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
            .map(|(key, _)| name(key))
            .collect(),
        exports: world.exports.keys().map(name).collect(),
    }
}

fn versioned(name: &str, version: &str) -> String {
    if version.is_empty() {
        name.to_string()
    } else {
        format!("{name}@{version}")
    }
}

/// The component's own imports and exports.
fn shape_of_component(component: &[u8]) -> Result<Shape, String> {
    match wit_component::decode(component)
        .map_err(|e| format!("not a WebAssembly component: {e:#}"))?
    {
        DecodedWasm::Component(resolve, world) => Ok(shape(&resolve, world)),
        DecodedWasm::WitPackage(..) => Err("this is a WIT package, not a component".into()),
    }
}

/// The world a component is built for, told by what it exports.
pub fn world_of(component: &[u8]) -> Result<&'static str, String> {
    let have = shape_of_component(component)?;
    WORLDS
        .iter()
        .find(|(_, export)| have.exports.contains_key(&format!("wharf:plugin/{export}")))
        .map(|(world, _)| *world)
        .ok_or_else(|| {
            format!(
                "the component exports none of Wharf's worlds' interfaces (it exports: {}); build it for one of the worlds in wit/plugins.wit",
                list(have.exports.iter())
            )
        })
}

fn list<'a>(items: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let names: Vec<String> = items.map(|(n, v)| versioned(n, v)).collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// What keeps `component` from running as a plugin of `world` (the world
/// as `wit` declares it), one line each with its fix; empty when nothing.
pub fn problems(component: &[u8], world: &str, wit: &Path) -> Result<Vec<String>, String> {
    let have = shape_of_component(component)?;
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .map_err(|e| format!("{}: {e:#}", wit.display()))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| format!("world {world}: {e:#}"))?;
    let want = shape(&resolve, world_id);
    let wharf_imports = || list(want.imports.iter().filter(|(n, _)| n.starts_with("wharf:")));
    let mut problems = Vec::new();
    let mut unserved: Vec<(String, Vec<String>)> = Vec::new();
    for (name, version) in &have.imports {
        if let Some(served) = want.imports.get(name) {
            if served != version {
                problems.push(format!(
                    "imports {}, but this host serves {}: rebuild against this Wharf's wit/",
                    versioned(name, version),
                    versioned(name, served)
                ));
            }
            continue;
        }
        let (namespace, package) = name
            .split_once('/')
            .map_or((name.as_str(), ""), |(package, _)| {
                package.split_once(':').unwrap_or((package, ""))
            });
        if namespace == "wasi" && HOST_WASI.contains(&package) {
            continue;
        }
        let fix = match (namespace, package) {
            ("wasi", "http") => "the host gives HTTP to addons only. A JavaScript plugin built with componentize-js imports it unless its http and fetch-event features are off: `disableFeatures: ['http', 'fetch-event']` (jco: `-d http -d fetch-event`); `wharf plugin build` does this".to_string(),
            ("wharf", _) => format!(
                "the {world} world imports only {}: build it for world `{world}`",
                wharf_imports()
            ),
            _ => "the host provides only wharf:plugin and WASI's cli, io, clocks, random, filesystem and sockets".to_string(),
        };
        // Imports with one fix are named together.
        match unserved.iter_mut().find(|(known, _)| *known == fix) {
            Some((_, names)) => names.push(versioned(name, version)),
            None => unserved.push((fix, vec![versioned(name, version)])),
        }
    }
    for (fix, names) in unserved {
        problems.push(format!(
            "imports {}, which the host does not give the {world} world: {fix}",
            names.join(", ")
        ));
    }
    for (name, version) in &want.exports {
        match have.exports.get(name) {
            None => problems.push(format!(
                "does not export {}, which the {world} world must (it exports: {}): build it for world `{world}`",
                versioned(name, version),
                list(have.exports.iter())
            )),
            Some(built) if built != version => problems.push(format!(
                "exports {}, but this host calls {}: rebuild against this Wharf's wit/",
                versioned(name, built),
                versioned(name, version)
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
    }

    /// A component of `world` built from a WIT text, with dummy code.
    fn component(wit_text: &str, world: &str) -> Vec<u8> {
        let mut resolve = Resolve::default();
        resolve.push_dir(wit()).unwrap();
        let package = resolve.push_str("test.wit", wit_text).unwrap();
        let world = resolve.select_world(&[package], Some(world)).unwrap();
        let mut module =
            wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
            false,
        )
        .unwrap();
        wit_component::ComponentEncoder::default()
            .module(&module)
            .unwrap()
            .encode()
            .unwrap()
    }

    #[test]
    fn a_component_of_the_world_passes_and_its_world_is_told() {
        let controller = component(
            "package test:ok; world w { include wharf:plugin/controller@0.1.0; }",
            "w",
        );
        assert_eq!(world_of(&controller).unwrap(), "controller");
        assert!(
            problems(&controller, "controller", &wit())
                .unwrap()
                .is_empty()
        );
        let wrong = problems(&controller, "admission", &wit()).unwrap();
        assert!(
            wrong.iter().any(|p| p
                .starts_with("imports wharf:plugin/discovery@0.1.0, wharf:plugin/events@0.1.0,")
                && p.contains("build it for world `admission`")),
            "{wrong:?}"
        );
        assert!(
            wrong
                .iter()
                .any(|p| p.starts_with("does not export wharf:plugin/review@0.1.0")),
            "{wrong:?}"
        );
    }

    #[test]
    fn an_http_import_is_named_with_its_javascript_fix() {
        let with_http = component(
            "package test:js; world w { include wharf:plugin/controller@0.1.0; import wasi:http/outgoing-handler@0.2.12; }",
            "w",
        );
        let found = problems(&with_http, "controller", &wit()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .starts_with("imports wasi:http/outgoing-handler@0.2.12, wasi:http/types@0.2.12,")
                && found[0].contains("'fetch-event'"),
            "{found:?}"
        );
    }

    #[test]
    fn garbage_is_not_a_component() {
        assert!(
            world_of(b"\0asm garbage")
                .unwrap_err()
                .starts_with("not a WebAssembly component")
        );
    }
}
