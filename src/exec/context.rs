//! The GPU context: a wgpu instance, the chosen adapter, and a device asked for the adapter's own limits
//! (workload tensors reach hundreds of MB) and for timestamp queries when the adapter has them.
//!
//! wgpu reports most errors through a callback instead of return values; the context installs one that
//! records them, and [`Gpu::take_error`] turns a recorded error into ours instead of a panic.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What to install when there is no adapter at all.
pub const NO_ADAPTER_HELP: &str = "no GPU adapter found (Vulkan, Metal or DX12). On a machine without a GPU, a \
     software Vulkan driver works: on Debian/Ubuntu `apt-get install mesa-vulkan-drivers` (lavapipe)";

/// An open device on one adapter.
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Whether compute passes can write GPU timestamps.
    pub timestamps: bool,
    /// Whether kernels may use subgroup operations (subgroups of at least 8 invocations).
    pub subgroups: bool,
    /// Whether GEMMs take the workgroup-memory kernel written for real GPUs: every adapter but a CPU one
    /// (lavapipe), where the register-blocked kernels are faster.
    pub tiled_gemm: bool,
    errors: Arc<Mutex<Vec<String>>>,
    /// Compiled shader modules and pipelines, by name: every plan on this device reuses them.
    pub(super) modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pub(super) pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
}

/// Backends with compute shaders (GL has none).
fn backends() -> wgpu::Backends {
    wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
}

/// Every adapter wgpu sees on this machine.
pub fn adapters() -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: backends(), ..wgpu::InstanceDescriptor::new_without_display_handle() });
    pollster::block_on(instance.enumerate_adapters(backends()))
}

/// `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Real GPUs before virtual and software ones.
fn preference(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl Gpu {
    /// Opens the adapter whose name contains `name` (case-insensitive), or the most capable one.
    pub fn new(name: Option<&str>) -> Result<Gpu> {
        let mut all = adapters();
        if all.is_empty() {
            return Err(Error::Unsupported(NO_ADAPTER_HELP.into()));
        }
        all.sort_by_key(|a| preference(a.get_info().device_type));
        let adapter = match name {
            None => all.swap_remove(0),
            Some(want) => {
                let lower = want.to_lowercase();
                match all.iter().position(|a| a.get_info().name.to_lowercase().contains(&lower)) {
                    Some(i) => all.swap_remove(i),
                    None => {
                        let known: Vec<String> = all.iter().map(|a| describe(&a.get_info())).collect();
                        return Err(Error::unknown("adapter", want, known));
                    }
                }
            }
        };
        Self::open(adapter)
    }

    fn open(adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        // The subgroup GEMM shares values across 8 invocations.
        let subgroups = adapter.features().contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 8;
        if subgroups {
            features |= wgpu::Features::SUBGROUP;
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("mmbench"),
            required_features: features,
            // The adapter's own limits, not WebGPU's defaults: large buffers and bindings.
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| Error::Unsupported(format!("cannot open a device on {}: {e}", describe(&info))))?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
        }));
        let limits = device.limits();
        let tiled_gemm = info.device_type != wgpu::DeviceType::Cpu;
        Ok(Gpu { adapter, device, queue, info, limits, timestamps, subgroups, tiled_gemm, errors, modules: Mutex::default(), pipelines: Mutex::default() })
    }

    /// `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The adapter's driver and its version (`llvmpipe` / `Mesa 22.3.6 (LLVM 15.0.6)`), as the adapter reports
    /// them.
    pub fn driver(&self) -> String {
        format!("{} {}", self.info.driver, self.info.driver_info).trim().to_string()
    }

    /// `vulkan`, `metal`, `dx12`.
    pub fn backend(&self) -> String {
        format!("{:?}", self.info.backend).to_lowercase()
    }

    /// The first error wgpu reported since the last call, as ours (`what` says what was being done).
    pub fn take_error(&self, what: &str) -> Result<()> {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match errors.drain(..).next() {
            Some(e) => Err(Error::Unsupported(format!("{what}: {e}"))),
            None => Ok(()),
        }
    }

    /// Runs `f` and returns what it made, or the validation or out-of-memory error it caused.
    pub fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let errors = [pollster::block_on(invalid.pop()), pollster::block_on(oom.pop())];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(Error::Unsupported(format!("{what}: {e}"))),
            None => Ok(value),
        }
    }

    /// Blocks until the queue has finished everything submitted so far.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Unsupported(format!("waiting for the GPU: {e}")))?;
        self.take_error("running on the GPU")
    }

    /// Copies `bytes` bytes of `buffer` from `offset` back to the host (both multiples of 4).
    pub fn read(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        map_read(self, &staging, bytes)
    }
}

/// Maps a `MAP_READ` buffer, copies `bytes` bytes out and unmaps it.
pub fn map_read(gpu: &Gpu, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
    let slice = staging.slice(..bytes);
    let done: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> = Arc::default();
    let flag = done.clone();
    slice.map_async(wgpu::MapMode::Read, move |r| *flag.lock().unwrap_or_else(|p| p.into_inner()) = Some(r));
    gpu.wait()?;
    // When several threads share the device, another thread's poll may be the one that runs this map's
    // callback, a moment after our own poll returned: wait for it (bounded) instead of failing.
    let mut outcome = done.lock().unwrap_or_else(|p| p.into_inner()).take();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while outcome.is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(200));
        gpu.wait()?;
        outcome = done.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
    match outcome {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(Error::Unsupported(format!("reading a GPU buffer back: {e}"))),
        None => return Err(Error::Unsupported("reading a GPU buffer back: the map never completed".into())),
    }
    let data = slice.get_mapped_range().map_err(|e| Error::Unsupported(format!("reading a GPU buffer back: {e:?}")))?.to_vec();
    staging.unmap();
    Ok(data)
}
