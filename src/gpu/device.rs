//! Picks the GPU: a real adapter when one exists, otherwise lavapipe (Vulkan on the CPU), and logs which.
//!
//! `WGPU_BACKEND` (vulkan, gl, …) and `WGPU_ADAPTER_NAME` are honoured because the instance is built from
//! the environment. Only features the adapter reports are requested: Debian's lavapipe lacks descriptor
//! indexing, so the shaders use a fixed set of bindings (atlases) instead of texture arrays.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// GPU timestamps are available (used for per-stage timing in the benchmark).
    pub timestamps: bool,
    /// The first validation or device error since the last check. wgpu's default is to panic; a
    /// service must turn it into an error of the job that caused it instead.
    error: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Opens the device from a helper thread with the given nice value: a software device's worker
    /// threads are created here and inherit it, so they yield to the encoder (0 = unchanged).
    pub fn open_with_nice(nice: i32) -> Result<Gpu> {
        if nice <= 0 {
            return Gpu::open();
        }
        std::thread::Builder::new()
            .name("gpu open".into())
            .spawn(move || {
                crate::sys::lower_thread_priority(nice);
                Gpu::open()
            })?
            .join()
            .map_err(|_| Error::Device("device creation panicked".into()))?
    }

    /// Opens the best adapter: discrete > integrated > virtual > CPU (lavapipe/llvmpipe).
    pub fn open() -> Result<Gpu> {
        Gpu::open_where(|_| true, "all backends")
    }

    /// Opens a software adapter (lavapipe/llvmpipe) even where a GPU exists: what compares the
    /// CPU's drawing with the kernels' needs the device that CPU drawing is for.
    pub fn open_software() -> Result<Gpu> {
        Gpu::open_where(|i| i.device_type == wgpu::DeviceType::Cpu, "software adapters (lavapipe)")
    }

    fn open_where(keep: impl Fn(&wgpu::AdapterInfo) -> bool, what: &str) -> Result<Gpu> {
        // lavapipe's Vulkan enumeration probes Wayland; an existing runtime dir keeps it quiet.
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            let dir = std::env::temp_dir().join("costream-xdg");
            if std::fs::create_dir_all(&dir).is_ok() {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
                }
                // SAFETY: called before any other thread of ours reads the environment.
                unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
            }
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        adapters.retain(|a| keep(&a.get_info()));
        if adapters.is_empty() {
            return Err(Error::NoAdapter { tried: what.into() });
        }
        let rank = |a: &wgpu::Adapter| {
            let i = a.get_info();
            let t = match i.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Other => 3,
                wgpu::DeviceType::Cpu => 4,
            };
            // Prefer Vulkan over GL for the same device: compute and timestamps are better supported.
            let b = if i.backend == wgpu::Backend::Vulkan { 0 } else { 1 };
            (t, b)
        };
        if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
            let name = name.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&name));
            if adapters.is_empty() {
                return Err(Error::NoAdapter { tried: format!("WGPU_ADAPTER_NAME={name}") });
            }
        }
        adapters.sort_by_key(rank);
        let adapter = adapters.remove(0);
        let info = adapter.get_info();
        let cpu = info.device_type == wgpu::DeviceType::Cpu;
        tracing::info!(
            adapter = %info.name,
            backend = ?info.backend,
            kind = ?info.device_type,
            "GPU device: {}",
            if cpu { "software rendering (lavapipe/llvmpipe), no GPU found" } else { "hardware GPU" }
        );
        let available = adapter.features();
        let mut features = wgpu::Features::empty();
        let timestamps = available.contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("costream"),
            required_features: features,
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Device(e.to_string()))?;
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!(error = %e, "GPU error");
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        Ok(Gpu { device, queue, info, timestamps, error })
    }

    /// Returns (and clears) the GPU error raised since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// A software device (lavapipe): its "GPU" memory is the CPU's, and its kernels run on the cores.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// "adapter name (backend)", as printed by the benchmark.
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }
}
