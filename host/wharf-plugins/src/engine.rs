//! The wasmtime engine every plugin runs in, and the compiled-component cache.
//!
//! One engine per process: lean features (no component-model-async, which
//! makes calls 3–4× slower), the pooling allocator, and epoch interruption
//! driven by a ticker thread, so that every call can have a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::PluginError;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 256 << 20,
        }
    }
}

/// The engine, its epoch ticker and its compile cache.
pub struct Runtime {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    ticking: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, PluginError> {
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 2)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .max_memory_size(config.max_memory_bytes)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16);
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
        // WHARF_PLUGIN_PERFMAP is set (it writes /tmp/perf-PID.map).
        if std::env::var_os("WHARF_PLUGIN_PERFMAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
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
        Ok(Arc::new(Self {
            engine,
            cache_dir: config.cache_dir,
            ticking,
        }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, or loads it from the cache when this engine
    /// compiled the same bytes before. Returns it with its digest.
    pub fn compile(&self, bytes: &[u8]) -> Result<(Component, String), PluginError> {
        let digest = digest(bytes);
        let cached = self.cache_path(&digest);
        if let Some(path) = &cached
            && path.exists()
        {
            match load_precompiled(&self.engine, path) {
                Ok(component) => return Ok((component, digest)),
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "ignoring a bad compile cache entry")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        if let Some(path) = cached {
            match component.serialize() {
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
        Ok((component, digest))
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
