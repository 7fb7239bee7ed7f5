//! The native ABI is written beside the WIT, so a test keeps them one
//! contract: every function of the host interfaces a controller imports
//! (`wit/host.wit`, world `controller` in `wit/plugins.wit`) has its slot in
//! `WharfHostVtable`, and every slot but the ABI's own bookkeeping is one of
//! those functions.

use std::collections::BTreeSet;

const HOST_WIT: &str = include_str!("../../../wit/host.wit");
const PLUGINS_WIT: &str = include_str!("../../../wit/plugins.wit");
const ABI: &str = include_str!("../src/lib.rs");

/// The block of `header {` … its closing `}` at the same indentation.
fn block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("{header:?} not found"));
    let indent = text[..start].rsplit('\n').next().unwrap_or_default();
    let close = format!("\n{indent}}}");
    let end = text[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("{header:?} is not closed"));
    &text[start..start + end]
}

/// The interfaces the controller world imports.
fn controller_imports() -> Vec<String> {
    block(PLUGINS_WIT, "world controller {")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .map(|name| name.trim_end_matches(';').to_string())
        .collect()
}

/// The functions an interface declares.
fn functions(interface: &str) -> Vec<String> {
    block(HOST_WIT, &format!("interface {interface} {{"))
        .lines()
        .filter_map(|line| line.trim().split_once(": func("))
        .map(|(name, _)| name.trim_start_matches('%').to_string())
        .collect()
}

/// The vtable slot a WIT function has, by the ABI's naming rule: the
/// function's name in snake case, prefixed by its interface where the name
/// alone would be ambiguous (`state`), suffixed for `subresources.update`,
/// and `emit_event` for `events.emit`; none for `watches.watch` (a native
/// plugin's registration carries its watches).
fn slot_for(interface: &str, function: &str) -> Option<String> {
    let function = function.replace('-', "_");
    match interface {
        "state" => Some(format!("state_{function}")),
        "events" => Some(format!("{function}_event")),
        "subresources" => Some(format!("{function}_subresource")),
        // A native plugin's watches travel in its registration's JSON.
        "watches" => None,
        _ => Some(function),
    }
}

fn vtable_slots() -> BTreeSet<String> {
    block(ABI, "pub struct WharfHostVtable {")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub "))
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.to_string())
        .filter(|name| !name.starts_with("struct"))
        .collect()
}

#[test]
fn every_wit_host_function_has_its_slot_in_the_native_vtable_and_back() {
    let imports = controller_imports();
    assert!(imports.contains(&"cluster".to_string()), "{imports:?}");
    let expected: BTreeSet<String> = imports
        .iter()
        .flat_map(|interface| {
            functions(interface)
                .into_iter()
                .filter_map(move |function| slot_for(interface, &function))
        })
        .collect();
    let bookkeeping: BTreeSet<String> = ["abi_version", "free_buf"]
        .into_iter()
        .map(String::from)
        .collect();
    let slots: BTreeSet<String> = vtable_slots().difference(&bookkeeping).cloned().collect();
    assert!(expected.len() >= 14, "too few functions read: {expected:?}");
    let missing: Vec<_> = expected.difference(&slots).collect();
    let extra: Vec<_> = slots.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the native ABI and the WIT disagree: WIT functions without a slot {missing:?}, slots without a WIT function {extra:?}"
    );
}
