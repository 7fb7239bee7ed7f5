//! `wharf plugin new`: a plugin folder from one of the SDKs' templates,
//! `sdk/<sdk>/templates/<lang>-<world>/`, with `{{name}}` (the Plugin's
//! name), `{{module}}` (its component's file stem) and `{{sdk}}` (the SDK
//! folder) filled in.

use std::path::Path;

use super::build::{self, Lang};

pub fn create(dir: &Path, name: &str, lang: Lang, world: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(format!(
            "{name:?} is not a valid plugin name: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"
        ));
    }
    if dir.exists() {
        return Err(format!("{} exists already", dir.display()));
    }
    let root = build::source_root()?;
    let sdk = root.join("sdk").join(lang.sdk());
    let templates = sdk.join("templates");
    let template = templates.join(format!("{}-{world}", lang.name()));
    if !template.is_dir() {
        let mut known: Vec<String> = std::fs::read_dir(&templates)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        known.sort();
        return Err(format!(
            "no {} template for the {world} world (there are: {})",
            lang.name(),
            known.join(", ")
        ));
    }
    let module = name.replace('-', "_");
    let sdk_text = sdk.display().to_string();
    let fill = |file: &Path, text: &str| {
        let text = text
            .replace("{{name}}", name)
            .replace("{{module}}", &module)
            .replace("{{sdk}}", &sdk_text);
        // An SDK's examples (`sdk/<sdk>/examples/NAME/`) name the SDK as
        // `../../` in their JSON settings (tsconfig's `extends`, scripts).
        if file.extension().is_some_and(|e| e == "json") {
            text.replace("\"../../", &format!("\"{sdk_text}/"))
                .replace(" ../../", &format!(" {sdk_text}/"))
        } else {
            text
        }
    };
    copy(&template, dir, &fill)?;
    rename_plugin(&dir.join("plugin.yaml"), name, &module)?;
    println!(
        "created {} ({} {world} plugin). Next:\n  wharf plugin test {0}\n  wharf plugin build {0}\n  wharf plugin dev {0}    # into the running cluster, on every save",
        super::shown(dir),
        lang.name()
    );
    Ok(())
}

/// Names the Plugin and its module after the new plugin (a template may be
/// a working example with names of its own).
fn rename_plugin(manifest: &Path, name: &str, module: &str) -> Result<(), String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let (mut named, mut moduled) = (false, false);
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !named && line.starts_with("  name: ") {
                named = true;
                format!("  name: {name}")
            } else if !moduled && line.starts_with("  module: ") {
                moduled = true;
                format!("  module: {module}.wasm")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(manifest, lines.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", manifest.display()))
}

fn copy(from: &Path, to: &Path, fill: &dyn Fn(&Path, &str) -> String) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        let skipped = ["build", "__pycache__", ".pytest_cache", "node_modules"];
        if skipped.iter().any(|s| entry.file_name() == *s) {
            continue;
        }
        if entry.path().is_dir() {
            copy(&entry.path(), &target, fill)?;
        } else {
            let text = std::fs::read_to_string(entry.path())
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            std::fs::write(&target, fill(&target, &text))
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}
