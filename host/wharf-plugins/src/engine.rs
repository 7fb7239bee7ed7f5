//! The wasmtime engine every plugin runs in, and the compiled-component cache.
//!
//! One engine per process: lean features (no component-model-async, which
//! makes calls 3–4× slower), the pooling allocator, and epoch interruption
//! driven by a ticker thread, so that every call can have a deadline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::PluginError;
use crate::limits::Limits;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core module instances one component may have (a Python component has 14).
pub(crate) const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Linear memories one component may have.
pub(crate) const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables one component may have.
pub(crate) const MAX_TABLES_PER_COMPONENT: u32 = 32;

/// A component at least this big is compiled alone: compiling an
/// interpreter (Python's is 18 MB) takes seconds and hundreds of MB, and
/// three of them at once would triple the host's peak memory.
const LARGE_COMPONENT_BYTES: usize = 4 << 20;

/// Settings for the engine.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (`None`: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Instances the pooling allocator keeps slots for.
    pub max_instances: u32,
    /// The largest linear memory any instance may have; each plugin's own
    /// limit is at most this.
    pub max_memory_bytes: usize,
    /// The longest call deadline a plugin may ask for.
    pub max_call_deadline: Duration,
    /// The most workers a controller plugin may ask for.
    pub max_workers: usize,
    /// The only directory native plugins (shared libraries, trusted and
    /// unsandboxed) load from; `None`: native plugins are refused.
    pub native_plugin_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 256 << 20,
            max_call_deadline: Duration::from_secs(10),
            max_workers: 16,
            native_plugin_dir: None,
        }
    }
}

/// The engine, its epoch ticker and its compile cache.
pub struct Runtime {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    ticking: Arc<AtomicBool>,
    /// Held while a large component compiles.
    large_compile: Mutex<()>,
    /// The most a plugin may ask for.
    max_memory_bytes: usize,
    max_call_deadline: Duration,
    max_workers: usize,
    /// `RuntimeConfig::native_plugin_dir`, resolved.
    native_dir: Option<PathBuf>,
    /// A private (0700, unpredictable name) directory the libraries are
    /// copied into before `dlopen`, so nothing can swap one in between.
    native_copies: tempfile::TempDir,
}

/// A compiled component not yet known to link: it is written to the
/// compile cache only once it has ([`Runtime::remember`]), so that a
/// module that fails to link is compiled again after a fix of the host
/// rather than read back from the cache.
pub struct Compiled {
    pub component: Component,
    pub digest: String,
    /// How long it took to compile or to read from the cache.
    pub took: Duration,
    pub from_cache: bool,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, PluginError> {
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(config.max_instances)
            // Interpreted guests are many core modules: a Python
            // component instantiates 14 (its interpreter, libc, the
            // adapters…). Core instances and tables cost only
            // bookkeeping; memories are the slots that reserve address
            // space.
            .total_core_instances(config.max_instances * 16)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 8)
            .max_memory_size(config.max_memory_bytes)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        // Each slot reserves 4 GiB of address space (plus a 32 MiB guard)
        // so that compiled code needs no bounds check on memory accesses:
        // a policy's loop over 500 nodes runs about twice as fast. It is
        // only address space (512 slots: 2 TiB of the 128 TiB a process
        // has); memory is committed as a plugin grows, up to its limit.
        wasm.memory_reservation(1 << 32).memory_guard_size(32 << 20);
        // `perf` can name the plugins' compiled functions when
        // WHARF_PLUGIN_PERFMAP is set (it writes /tmp/perf-PID.map). Code
        // loaded from the cache is mapped from a file perf cannot name, so
        // the cache is then off.
        let profiling = std::env::var_os("WHARF_PLUGIN_PERFMAP").is_some();
        if profiling {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let config = RuntimeConfig {
            cache_dir: config.cache_dir.filter(|_| !profiling),
            ..config
        };
        let engine = Engine::new(&wasm).map_err(|e| PluginError::Engine(e.to_string()))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (ticker_engine, flag) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("wharf-plugin-epoch".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| PluginError::Engine(format!("{}: {e}", dir.display())))?;
        }
        let native_dir = (config.native_plugin_dir.as_ref())
            .map(|dir| {
                dir.canonicalize().map_err(|e| {
                    PluginError::Engine(format!(
                        "the native plugin directory {}: {e}",
                        dir.display()
                    ))
                })
            })
            .transpose()?;
        let native_copies = tempfile::Builder::new()
            .prefix("wharf-native-")
            .tempdir()
            .map_err(|e| {
                PluginError::Engine(format!("a private directory for native plugins: {e}"))
            })?;
        Ok(Arc::new(Self {
            engine,
            cache_dir: config.cache_dir,
            ticking,
            large_compile: Mutex::new(()),
            max_memory_bytes: config.max_memory_bytes,
            max_call_deadline: config.max_call_deadline,
            max_workers: config.max_workers,
            native_dir,
            native_copies,
        }))
    }

    /// A native plugin's library, checked and copied for `dlopen`: it must
    /// be in the native plugin directory; it is copied into this runtime's
    /// private directory and the copy's digest checked against what was
    /// read. Returns the copy and the digest.
    pub fn native_copy(&self, path: &Path) -> Result<(PathBuf, String), PluginError> {
        let Some(dir) = &self.native_dir else {
            return Err(PluginError::Refused(format!(
                "{}: native plugins are off; start wharf up with --native-plugin-dir DIR and put the library in DIR",
                path.display()
            )));
        };
        let real = path
            .canonicalize()
            .map_err(|e| PluginError::Refused(format!("{}: {e}", path.display())))?;
        if !real.starts_with(dir) {
            return Err(PluginError::Refused(format!(
                "{} is outside the native plugin directory {} (--native-plugin-dir)",
                path.display(),
                dir.display()
            )));
        }
        let bytes = std::fs::read(&real)
            .map_err(|e| PluginError::Refused(format!("{}: {e}", real.display())))?;
        let digest = digest(&bytes);
        let hex = digest.trim_start_matches("sha256:");
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin.so".to_owned());
        let copy = self
            .native_copies
            .path()
            .join(format!("{}-{name}", &hex[..16.min(hex.len())]));
        let failed = |e: std::io::Error| PluginError::Engine(format!("{}: {e}", copy.display()));
        if !std::fs::read(&copy).is_ok_and(|existing| existing == bytes) {
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let write = WRITES.fetch_add(1, Ordering::Relaxed);
            let temporary = self.native_copies.path().join(format!("{hex}.{write}.tmp"));
            std::fs::write(&temporary, &bytes)
                .and_then(|()| std::fs::rename(&temporary, &copy))
                .map_err(failed)?;
        }
        let copied = std::fs::read(&copy).map_err(failed)?;
        if self::digest(&copied) != digest {
            return Err(PluginError::Refused(format!(
                "{}: the copy of {} does not have the digest read ({digest})",
                copy.display(),
                path.display()
            )));
        }
        Ok((copy, digest))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Refuses limits over the host's maxima (set at `wharf up`), so that
    /// no Plugin can ask for more of the host than its operator allows.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), PluginError> {
        if limits.memory_bytes > self.max_memory_bytes {
            return Err(PluginError::Refused(format!(
                "spec.limits.memory is {} MiB, over the host's maximum of {} MiB (wharf up --plugin-max-memory-mib)",
                limits.memory_bytes >> 20,
                self.max_memory_bytes >> 20
            )));
        }
        if limits.call_deadline > self.max_call_deadline {
            return Err(PluginError::Refused(format!(
                "spec.limits.callTimeout is {:?}, over the host's maximum of {:?} (wharf up --plugin-max-call-timeout-ms)",
                limits.call_deadline, self.max_call_deadline
            )));
        }
        Ok(())
    }

    /// Refuses more workers than the host's maximum.
    pub fn check_workers(&self, workers: usize) -> Result<(), PluginError> {
        if workers > self.max_workers {
            return Err(PluginError::Refused(format!(
                "spec.workers is {workers}, over the host's maximum of {} (wharf up --plugin-max-workers)",
                self.max_workers
            )));
        }
        Ok(())
    }

    /// Compiles a component, or loads it from the cache when this engine
    /// compiled the same bytes before. Large components compile one at a
    /// time. The result is cached by [`Runtime::remember`], once linked.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, PluginError> {
        let started = Instant::now();
        let digest = digest(bytes);
        if let Some(path) = self.cache_path(&digest)
            && path.exists()
        {
            match load_precompiled(&self.engine, &path) {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        digest,
                        took: started.elapsed(),
                        from_cache: true,
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "ignoring a bad compile cache entry")
                }
            }
        }
        let _alone = (bytes.len() >= LARGE_COMPONENT_BYTES)
            .then(|| self.large_compile.lock().unwrap_or_else(|e| e.into_inner()));
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        Ok(Compiled {
            component,
            digest,
            took: started.elapsed(),
            from_cache: false,
        })
    }

    /// Writes a compiled component that linked to the compile cache.
    pub fn remember(&self, compiled: &Compiled) {
        if compiled.from_cache {
            return;
        }
        let Some(path) = self.cache_path(&compiled.digest) else {
            return;
        };
        match compiled.component.serialize() {
            Ok(serialized) => {
                let temporary = path.with_extension("tmp");
                if let Err(error) = std::fs::write(&temporary, serialized)
                    .and_then(|()| std::fs::rename(&temporary, &path))
                {
                    tracing::warn!(%error, "cannot write the compile cache");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot serialize a compiled component"),
        }
    }

    /// The cache file for `digest`: keyed by the module's digest and by the
    /// engine's compatibility hash (wasmtime version, settings, features).
    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = std::hash::Hasher::finish(&hasher);
        let hex = digest.trim_start_matches("sha256:");
        Some(dir.join(format!("{hex}-{engine_key:016x}.cwasm")))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// The content digest of a module, `sha256:<hex>`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Loads a component this process's engine serialized into the cache.
#[allow(unsafe_code)]
fn load_precompiled(engine: &Engine, path: &Path) -> Result<Component, PluginError> {
    // SAFETY: wasmtime requires that deserialized bytes come from a trusted
    // `serialize` of a compatible engine. The cache directory is written only
    // by `Runtime::compile` (temp file + rename), and its file names carry the
    // engine's compatibility hash, so only this engine's output is read here.
    unsafe { Component::deserialize_file(engine, path) }
        .map_err(|e| PluginError::Compile(e.to_string()))
}
