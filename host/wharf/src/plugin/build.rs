//! `wharf plugin build` and `wharf plugin test`: one plugin folder, in any
//! of the SDKs' languages, built into a component with its pinned tool and
//! checked against its world; its unit tests run in the language's own
//! runner.
//!
//! A plugin folder holds `plugin.yaml` (the `Plugin` object: `spec.type`
//! names the world, `spec.module` the component's file name) and its
//! sources; the language is told by them:
//! - `Cargo.toml`: Rust (`cargo build --target wasm32-wasip2`);
//! - `app.py`: Python (componentize-py; tests with pytest);
//! - `package.json`: JavaScript or TypeScript (componentize-js through
//!   `sdk/js/bin/build.mjs`; tests with `node --test`);
//! - `src/*.c`: C (bindings from `wit/` by wit-bindgen's C generator,
//!   Debian's clang and wasi-libc, the WASI preview-1 reactor adapter
//!   composed in by wit-component; tests as a native program).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// A plugin's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
    Ts,
    C,
}

/// Where Wharf's `wit/` and `sdk/` are: `$WHARF_SOURCE`, else the source
/// tree this binary was built from.
pub fn source_root() -> Result<PathBuf, String> {
    let root = std::env::var_os("WHARF_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let root = root.canonicalize().unwrap_or(root);
    if root.join("wit/plugins.wit").exists() && root.join("sdk").is_dir() {
        Ok(root)
    } else {
        Err(format!(
            "{} is not Wharf's source tree (wit/ and sdk/); set WHARF_SOURCE to it",
            root.display()
        ))
    }
}

/// A plugin folder: its language, its Plugin object and its world.
pub struct Folder {
    pub dir: PathBuf,
    pub lang: Lang,
    pub manifest: Value,
    pub world: String,
    /// The component's file name (`spec.module`).
    pub module: String,
}

impl Folder {
    pub fn open(dir: &Path) -> Result<Self, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let manifest_path = dir.join("plugin.yaml");
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let manifest: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let world = manifest["spec"]["type"]
            .as_str()
            .ok_or_else(|| format!("{}: spec.type is not set", manifest_path.display()))?
            .to_string();
        let module = manifest["spec"]["module"]
            .as_str()
            .filter(|m| m.ends_with(".wasm") && !m.contains('/'))
            .ok_or_else(|| {
                format!(
                    "{}: spec.module must be the component's file name (NAME.wasm)",
                    manifest_path.display()
                )
            })?
            .to_string();
        let lang = if dir.join("Cargo.toml").exists() {
            Lang::Rust
        } else if dir.join("app.py").exists() {
            Lang::Python
        } else if dir.join("package.json").exists() {
            if dir.join("src/plugin.ts").exists() {
                Lang::Ts
            } else {
                Lang::Js
            }
        } else if !c_files(&dir.join("src")).is_empty() {
            Lang::C
        } else {
            return Err(format!(
                "{}: no Cargo.toml, app.py, package.json or src/*.c: which language is this plugin in?",
                dir.display()
            ));
        };
        Ok(Self {
            dir,
            lang,
            manifest,
            world,
            module,
        })
    }

    /// Where the component is built: `build/NAME.wasm`.
    pub fn output(&self) -> PathBuf {
        self.dir.join("build").join(&self.module)
    }
}

fn c_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "c"))
        .collect();
    files.sort();
    files
}

/// Runs a build tool: its output goes to stderr, as `wharf plugin build`
/// prints only the component's path on stdout.
fn run_tool(command: &mut Command) -> Result<(), String> {
    run(command.stdout(std::process::Stdio::from(std::io::stderr())))
}

/// Runs a command; its output goes to the terminal.
fn run(command: &mut Command) -> Result<(), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command.status().map_err(|e| {
        format!("cannot run {program}: {e} (the README's set-up command installs it)")
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} failed ({status})"))
    }
}

/// A tool of the Python toolchain: in the source tree's `.venv` (where the
/// README's set-up command installs the pinned versions), else on PATH.
fn python_tool(root: &Path, tool: &str) -> PathBuf {
    let local = root.join(".venv/bin").join(tool);
    if local.exists() {
        local
    } else {
        PathBuf::from(tool)
    }
}

impl Lang {
    /// As `--lang` names it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::Ts => "ts",
            Lang::C => "c",
        }
    }

    /// The SDK's folder under `sdk/`.
    pub fn sdk(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js | Lang::Ts => "js",
            Lang::C => "c",
        }
    }
}

/// Whether `out` is newer than every source it is built from (the
/// plugin's folder, `wit/`, its SDK). Rust plugins are left to cargo.
fn up_to_date(out: &Path, sources: &[&Path]) -> bool {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    sources
        .iter()
        .flat_map(|dir| super::dev::snapshot(dir))
        .all(|(path, modified, _)| modified < built || path == out)
}

/// Builds the folder's component into `out` (by default `build/NAME.wasm`)
/// and checks it against its world. Returns where it is.
pub fn build(folder: &Folder, out: Option<&Path>) -> Result<PathBuf, String> {
    let root = source_root()?;
    let wit = root.join("wit");
    let out = match out {
        None => folder.output(),
        Some(dir) if dir.is_dir() => dir.join(&folder.module),
        Some(file) => file.to_path_buf(),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    if folder.lang != Lang::Rust
        && up_to_date(
            &out,
            &[&folder.dir, &wit, &root.join("sdk").join(folder.lang.sdk())],
        )
    {
        eprintln!("{} is up to date", out.display());
        return Ok(out);
    }
    let started = Instant::now();
    match folder.lang {
        Lang::Rust => build_rust(folder, &out)?,
        Lang::Python => run_tool(
            Command::new(python_tool(&root, "componentize-py"))
                .arg("-d")
                .arg(&wit)
                .args(["-w", &folder.world, "componentize", "app", "-p"])
                .arg(&folder.dir)
                .arg("-p")
                .arg(root.join("sdk/python"))
                .arg("-o")
                .arg(&out),
        )?,
        Lang::Js | Lang::Ts => run_tool(
            Command::new("node")
                .arg(root.join("sdk/js/bin/build.mjs"))
                .arg("--wit")
                .arg(&wit)
                .args(["--world", &folder.world, "--out"])
                .arg(&out)
                .arg(&folder.dir),
        )?,
        Lang::C => {
            let core = build_c_core(folder, &root)?;
            let component = componentize_core(&core)?;
            std::fs::write(&out, component).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    let bytes = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let problems = super::check::problems(&bytes, &folder.world, &wit)?;
    if !problems.is_empty() {
        return Err(format!(
            "{} does not fit the {} world:\n  - {}",
            out.display(),
            folder.world,
            problems.join("\n  - ")
        ));
    }
    eprintln!(
        "built {} ({} KiB, {} world) in {:.1} s",
        out.display(),
        bytes.len() / 1024,
        folder.world,
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn build_rust(folder: &Folder, out: &Path) -> Result<(), String> {
    let output = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(folder.dir.join("Cargo.toml"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({})", output.status));
    }
    let artifact = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .rfind(|file| file.extension().is_some_and(|e| e == "wasm"))
        .ok_or("cargo built no .wasm: is the crate a `cdylib`?")?;
    std::fs::copy(&artifact, out).map_err(|e| format!("{}: {e}", artifact.display()))?;
    Ok(())
}

/// The C name of a world (`cloud-provider` → `cloud_provider`).
fn c_world(world: &str) -> String {
    world.replace('-', "_")
}

/// Writes the world's C bindings into `build/gen/` (from this Wharf's
/// `wit/`, so they are never stale).
fn c_bindings(folder: &Folder, wit: &Path) -> Result<PathBuf, String> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .map_err(|e| format!("{}: {e:#}", wit.display()))?;
    let world = resolve
        .select_world(&[package], Some(&folder.world))
        .map_err(|e| format!("world {}: {e:#}", folder.world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| format!("C bindings: {e:#}"))?;
    let gen_dir = folder.dir.join("build/gen");
    std::fs::create_dir_all(&gen_dir).map_err(|e| format!("{}: {e}", gen_dir.display()))?;
    for (name, contents) in files.iter() {
        let path = gen_dir.join(name);
        // Unchanged files keep their time, so editors and make see no change.
        if std::fs::read(&path).ok().as_deref() != Some(contents) {
            std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(gen_dir)
}

/// Compiles the C sources into a wasm32-wasi reactor module.
fn build_c_core(folder: &Folder, root: &Path) -> Result<PathBuf, String> {
    let gen_dir = c_bindings(folder, &root.join("wit"))?;
    let world = c_world(&folder.world);
    let sdk = root.join("sdk/c");
    let core = folder.dir.join("build/core.wasm");
    let mut command = Command::new("clang");
    command
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wno-unused-parameter",
        ])
        .arg("-I")
        .arg(&gen_dir)
        .arg("-I")
        .arg(sdk.join("include"))
        .arg(format!("-DWHARF_WORLD={world}"))
        .arg(format!("-DWHARF_WORLD_{}=1", world.to_uppercase()))
        .arg("-o")
        .arg(&core)
        .args(c_files(&folder.dir.join("src")))
        .args(c_files(&sdk.join("src")))
        .arg(gen_dir.join(format!("{world}.c")))
        .arg(gen_dir.join(format!("{world}_component_type.o")));
    run_tool(&mut command)?;
    Ok(core)
}

/// A core module importing WASI preview 1 (wasi-libc) as a component:
/// the preview-1 reactor adapter, which ships with wasmtime, composed in.
fn componentize_core(core: &Path) -> Result<Vec<u8>, String> {
    let module = std::fs::read(core).map_err(|e| format!("{}: {e}", core.display()))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("making a component of {}: {e:#}", core.display()))
}

/// Runs the folder's unit tests in its language's runner.
pub fn test(folder: &Folder) -> Result<(), String> {
    let root = source_root()?;
    match folder.lang {
        Lang::Rust => run(Command::new("cargo")
            .arg("test")
            .arg("--manifest-path")
            .arg(folder.dir.join("Cargo.toml"))),
        Lang::Python => {
            let sdk = root.join("sdk/python");
            let path = std::env::join_paths([sdk.as_path(), folder.dir.as_path()])
                .map_err(|e| e.to_string())?;
            run(Command::new(python_tool(&root, "python3"))
                .args(["-m", "pytest", "-q", "tests"])
                .current_dir(&folder.dir)
                .env("PYTHONPATH", path))
        }
        Lang::Js | Lang::Ts => run(Command::new("node")
            .arg(root.join("sdk/js/bin/test.mjs"))
            .arg(&folder.dir)),
        Lang::C => test_c(folder, &root),
    }
}

/// Each `test/*.c` of a C plugin, with its sources, the bindings and the
/// SDK's fake host, built as a native program and run.
fn test_c(folder: &Folder, root: &Path) -> Result<(), String> {
    let gen_dir = c_bindings(folder, &root.join("wit"))?;
    let world = c_world(&folder.world);
    let sdk = root.join("sdk/c");
    let tests = c_files(&folder.dir.join("test"));
    if tests.is_empty() {
        return Err(format!("{}: no test/*.c", folder.dir.display()));
    }
    for test in tests {
        let stem = test
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let program = folder.dir.join("build").join(&stem);
        run(Command::new("cc")
            .args([
                "-std=c11",
                "-g",
                "-O1",
                "-Wall",
                "-Wno-attributes",
                "-Wno-unused-parameter",
                "-Wno-maybe-uninitialized",
                "-fsanitize=address,undefined",
            ])
            .arg("-I")
            .arg(&gen_dir)
            .arg("-I")
            .arg(sdk.join("include"))
            .arg(format!("-DWHARF_WORLD={world}"))
            .arg(format!("-DWHARF_WORLD_{}=1", world.to_uppercase()))
            .arg("-DWHARF_NATIVE_TEST")
            .arg("-o")
            .arg(&program)
            .arg(&test)
            .args(c_files(&folder.dir.join("src")))
            .args(c_files(&sdk.join("src")))
            .arg(sdk.join("testing/fake_host.c"))
            .arg(gen_dir.join(format!("{world}.c"))))?;
        run(&mut Command::new(&program))?;
    }
    Ok(())
}
