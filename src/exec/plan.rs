//! The plan of a whole workload, built once before any timing: one storage buffer per node output (views
//! alias their producer's buffer at an element offset), weights and inputs uploaded, every op's dispatches
//! described by its kernel family (in pieces that bind windows where a buffer exceeds one binding: see
//! [`super::split`]), pipelines compiled once per (kernel, entry point, specialization), and one bind group
//! per dispatch over a single uniform buffer that holds every dispatch's parameters.

use super::context::Gpu;
use super::data::{source_values, weight_owner, Tensor};
use super::host;
use super::kernels::{self, DeviceCaps, Dispatch, Kernel, OpArgs, TensorRef, COMMON};
use super::params::param_specs;
use super::split;
use crate::error::{Error, Location, Result};
use crate::graph::tensor::fmt_shape;
use crate::graph::{Node, Op, OpClass, TensorInfo, Workload};
use petgraph::graph::NodeIndex;
use std::collections::HashMap;

/// One op ready to encode: its node and its dispatches with pipelines and bind groups, or the host work it
/// runs on the CPU between two submissions.
pub struct Step {
    pub node: NodeIndex,
    pub dispatches: Vec<BoundDispatch>,
    pub host: Option<HostStep>,
}

/// A `host_work` op: read its inputs back, run the CPU stand-in ([`super::host`]), upload its output.
pub struct HostStep {
    pub inputs: Vec<TensorRef>,
    pub output: TensorRef,
    /// The output's values (generated like an input's).
    pub words: Vec<u32>,
    pub flops: u64,
    pub threads: usize,
    /// The working set, allocated and touched once here so that runs time the work, not page faults.
    pub scratch: std::sync::Mutex<Vec<f32>>,
}

pub struct BoundDispatch {
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
}

pub struct Plan {
    /// Every storage buffer: node outputs, inputs, weights.
    pub buffers: Vec<wgpu::Buffer>,
    /// Where every node's value lives.
    pub values: Vec<TensorRef>,
    /// The ops that run, in program order.
    pub steps: Vec<Step>,
    /// The parameters of every dispatch (kept alive for the bind groups).
    _uniforms: wgpu::Buffer,
}

/// A view's element offset into its input: contiguous slices start further on; reshapes and permutes that
/// move only unit axes start where their input does.
fn view_offset(node: &Node, input: &TensorInfo) -> u64 {
    match &node.op {
        Op::Slice(s) => match s.resolve(&input.shape) {
            Ok((axis, start, _)) => start as u64 * input.shape[axis + 1..].iter().map(|&d| d as u64).product::<u64>(),
            Err(_) => 0,
        },
        _ => 0,
    }
}

fn node_error(node: &Node, e: Error) -> Error {
    match e {
        Error::Unsupported(m) => Error::Unsupported(format!("{m} (node `{}`)", node.name)),
        Error::Input { at, message } if at.node.is_none() => Error::Input { at: Box::new(at.node(&node.name)), message },
        other => other,
    }
}

/// What a plan keeps of its ops' outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// Every op's output in a buffer of its own, all readable after a run (`--check` reads every one).
    KeepAll,
    /// An output's buffer goes back to a pool once the last op that reads it is planned, and later outputs
    /// take buffers from the pool: a run holds about the live tensors, as a framework's caching allocator
    /// does, not every tensor of the graph (sarcasm at its default size: 2.7 GB resident instead of over 23).
    Reuse,
}

/// For every node, the nodes whose output buffers its planning releases (`Memory::Reuse`): the op outputs
/// (not inputs or weights, which stay for the next iteration) whose last reader, through views, it is. An
/// output nobody reads is released right after it is written; the workload's outputs are never released.
fn releases(w: &Workload) -> Vec<Vec<usize>> {
    let n = w.len();
    let mut root = vec![0usize; n];
    let mut last: Vec<Option<usize>> = vec![None; n];
    for (i, node) in w.nodes() {
        let i = i.index();
        let view = node.cost.class == OpClass::View && !node.inputs.is_empty();
        root[i] = if view { root[node.inputs[0].index()] } else { i };
        if !view && !matches!(node.op, Op::Input(_) | Op::Weight(_)) {
            last[i] = Some(i);
        }
        for p in &node.inputs {
            if let Some(l) = &mut last[root[p.index()]] {
                *l = (*l).max(i);
            }
        }
    }
    for o in &w.outputs {
        last[root[o.index()]] = None;
    }
    let mut at = vec![Vec::new(); n];
    for (r, l) in last.iter().enumerate() {
        if let Some(l) = l {
            at[*l].push(r);
        }
    }
    at
}

/// Builds buffers, uploads and pipelines step by step.
struct Builder<'g> {
    gpu: &'g Gpu,
    buffers: Vec<wgpu::Buffer>,
    /// Released output buffers that later outputs may take (`Memory::Reuse`).
    pool: Vec<usize>,
    /// Parameter buffers by (owner, parameter name), so shared weights are uploaded once.
    shared: HashMap<(String, &'static str), usize>,
    /// Largest buffer the adapter lets a kernel bind.
    max_bytes: u64,
}

impl Builder<'_> {
    /// A buffer for an op's output of `elements` 32-bit values: the smallest pooled one that holds them, or
    /// a new one. (Every kernel writes every element of its output, so a reused buffer needs no clearing.)
    fn output(&mut self, node: &Node, shape: &[usize], elements: u64) -> Result<usize> {
        let bytes = elements * 4;
        let size = |b: usize| self.buffers[b].size();
        let best = self.pool.iter().enumerate().filter(|&(_, &b)| size(b) >= bytes).min_by_key(|&(_, &b)| size(b)).map(|(i, _)| i);
        match best {
            Some(i) => Ok(self.pool.swap_remove(i)),
            None => self.alloc(node, "the output", shape, elements),
        }
    }

    /// A new zeroed storage buffer for `elements` 32-bit values of `node`.
    fn alloc(&mut self, node: &Node, what: &str, shape: &[usize], elements: u64) -> Result<usize> {
        let bytes = elements * 4;
        if bytes > self.max_bytes || elements >= 1 << 32 {
            return Err(Error::input(
                Location::default().node(&node.name),
                format!(
                    "{what} {} needs {} bytes, more than this adapter binds in one buffer ({} bytes); lower the batch size",
                    fmt_shape(shape),
                    bytes,
                    self.max_bytes
                ),
            ));
        }
        // Sizes are rounded up to 16 bytes so that vec4 views of a buffer cover every element.
        let size = bytes.div_ceil(16).max(1) * 16;
        let buffer = self.gpu.checked(&format!("allocating {what} of node `{}` ({size} bytes)", node.name), || {
            self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&node.name),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        self.buffers.push(buffer);
        Ok(self.buffers.len() - 1)
    }

    /// A buffer of `shape` holding `values()`, drawn only once the size has passed the adapter's limits.
    fn upload(&mut self, node: &Node, what: &str, shape: &[usize], values: impl FnOnce() -> Tensor) -> Result<usize> {
        let i = self.alloc(node, what, shape, shape.iter().map(|&d| d as u64).product())?;
        let words = values().to_words();
        self.gpu.queue.write_buffer(&self.buffers[i], 0, bytemuck::cast_slice(&words));
        Ok(i)
    }

    /// The buffer of parameter `name` of weight owner `owner`, made by `make` the first time: weights shared
    /// by a weight group (recurrent steps, ALBERT's layers) are uploaded once.
    fn shared(&mut self, owner: &str, name: &'static str, make: impl FnOnce(&mut Self) -> Result<usize>) -> Result<usize> {
        let key = (owner.to_string(), name);
        if let Some(&buf) = self.shared.get(&key) {
            return Ok(buf);
        }
        let buf = make(self)?;
        self.shared.insert(key, buf);
        Ok(buf)
    }
}

/// The pipeline of a dispatch, compiled on first use and cached on the device.
fn pipeline(gpu: &Gpu, d: &Dispatch) -> Result<wgpu::ComputePipeline> {
    let key = format!("{}/{}/{:?}", d.kernel.name, d.entry, d.constants);
    if let Some(p) = gpu.pipelines.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let module = module(gpu, d.kernel)?;
    let pipeline = gpu.checked(&format!("compiling kernel `{key}`"), || {
        gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&key),
            layout: None,
            module: &module,
            entry_point: Some(d.entry),
            // Kernels that use workgroup memory write it before reading it.
            compilation_options: wgpu::PipelineCompilationOptions { constants: &d.constants, zero_initialize_workgroup_memory: false },
            cache: None,
        })
    })?;
    gpu.pipelines.lock().unwrap_or_else(|p| p.into_inner()).insert(key, pipeline.clone());
    Ok(pipeline)
}

/// A kernel's WGSL (after the common helpers) as a shader module, compiled once per device.
fn module(gpu: &Gpu, k: &'static Kernel) -> Result<wgpu::ShaderModule> {
    if let Some(m) = gpu.modules.lock().unwrap_or_else(|p| p.into_inner()).get(k.name) {
        return Ok(m.clone());
    }
    let source = format!("{COMMON}\n{}", k.sources.concat());
    let module = gpu.checked(&format!("compiling `{}.wgsl`", k.name), || {
        gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(k.name), source: wgpu::ShaderSource::Wgsl(source.into()) })
    })?;
    gpu.modules.lock().unwrap_or_else(|p| p.into_inner()).insert(k.name, module.clone());
    Ok(module)
}

impl Plan {
    /// Plans `w` on `gpu`: allocates and fills every buffer, describes every op's dispatches and compiles
    /// their pipelines. Fails on the first op without a kernel, or a tensor too large for the adapter.
    /// Every op's output stays readable ([`Memory::KeepAll`]).
    pub fn new(gpu: &Gpu, w: &Workload) -> Result<Plan> {
        Self::with_memory(gpu, w, Memory::KeepAll)
    }

    /// [`Plan::new`], keeping what `memory` says of the ops' outputs.
    pub fn with_memory(gpu: &Gpu, w: &Workload, memory: Memory) -> Result<Plan> {
        let limits = &gpu.limits;
        let releases = if memory == Memory::Reuse { releases(w) } else { vec![Vec::new(); w.len()] };
        let mut b = Builder {
            gpu,
            buffers: Vec::new(),
            pool: Vec::new(),
            shared: HashMap::new(),
            // Buffers may exceed one binding: ops that meet one run in pieces that bind windows (`split`), or
            // are refused below.
            max_bytes: limits.max_buffer_size,
        };
        let mut values: Vec<TensorRef> = Vec::with_capacity(w.len());
        let mut described: Vec<(NodeIndex, Vec<Dispatch>)> = Vec::new();
        let mut hosts: HashMap<NodeIndex, HostStep> = HashMap::new();
        let caps = DeviceCaps {
            max_groups: limits.max_compute_workgroups_per_dimension,
            subgroups: gpu.subgroups,
            tiled_gemm: gpu.tiled_gemm,
            max_binding_bytes: limits.max_storage_buffer_binding_size,
            binding_alignment: u64::from(limits.min_storage_buffer_offset_alignment),
        };
        for (i, node) in w.nodes() {
            let value = if matches!(node.op, Op::Input(_) | Op::Weight(_)) {
                let values = || source_values(w, i).expect("inputs and weights have values");
                let buffer = match node.op {
                    Op::Weight(_) => b.shared(weight_owner(node), "value", |b| b.upload(node, "the weight", &node.output.shape, values))?,
                    _ => b.upload(node, "the input", &node.output.shape, values)?,
                };
                TensorRef { buffer, offset: 0, info: node.output.clone() }
            } else if let Op::HostWork(h) = &node.op {
                let buffer = b.output(node, &node.output.shape, node.output.numel())?;
                let output = TensorRef { buffer, offset: 0, info: node.output.clone() };
                let words = source_values(w, i).expect("host work has generated values").to_words();
                let elements = (h.bytes_per_sample * h.batch as u64 / 4) as usize;
                let threads = h.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
                let scratch = std::sync::Mutex::new(vec![0.0f32; if elements == 0 { host::REGISTER_SET } else { elements }]);
                let inputs = node.inputs.iter().map(|p| values[p.index()].clone()).collect();
                let flops = h.flops_per_sample * h.batch as u64;
                hosts.insert(i, HostStep { inputs, output: output.clone(), words, flops, threads, scratch });
                described.push((i, vec![]));
                output
            } else if node.cost.class == OpClass::View {
                let src = &values[node.inputs[0].index()];
                TensorRef { buffer: src.buffer, offset: src.offset + view_offset(node, &src.info), info: node.output.clone() }
            } else {
                let inputs: Vec<TensorRef> = node.inputs.iter().map(|p| values[p.index()].clone()).collect();
                let infos: Vec<TensorInfo> = inputs.iter().map(|t| t.info.clone()).collect();
                let mut params = Vec::new();
                for spec in param_specs(node, &infos).map_err(|e| node_error(node, e))? {
                    let owner = weight_owner(node);
                    let what = format!("parameter `{}`", spec.name);
                    let buffer = b.shared(owner, spec.name, |b| b.upload(node, &what, &spec.shape, || Tensor::F32(spec.generate(owner))))?;
                    params.push(TensorRef { buffer, offset: 0, info: TensorInfo::f32(spec.shape) });
                }
                // A recurrent step keeps its hidden GEMM's result in its output buffer, past the output.
                let scratch = kernels::recurrent::scratch_elements(node);
                let buffer = b.output(node, &node.output.shape, node.output.numel() + scratch)?;
                let output = TensorRef { buffer, offset: 0, info: node.output.clone() };
                let args = OpArgs { node, inputs: &inputs, params: &params, output: &output, caps };
                let sizes = |buffer: usize| b.buffers[buffer].size();
                described.push((i, split::dispatches(&args, sizes).map_err(|e| node_error(node, e))?));
                output
            };
            values.push(value);
            b.pool.extend(releases[i.index()].iter().map(|&r| values[r].buffer));
        }
        // Every dispatch's parameters in one uniform buffer, each at an aligned offset.
        let align = u64::from(limits.min_uniform_buffer_offset_alignment).max(16);
        let mut bytes: Vec<u8> = Vec::new();
        let mut slots: Vec<Vec<(u64, u64)>> = Vec::with_capacity(described.len());
        for (_, ds) in &described {
            let mut s = Vec::with_capacity(ds.len());
            for d in ds {
                let at = bytes.len() as u64;
                let size = (d.params.len() as u64).div_ceil(16).max(1) * 16;
                bytes.extend_from_slice(&d.params);
                bytes.resize((at + size.div_ceil(align) * align) as usize, 0);
                s.push((at, size));
            }
            slots.push(s);
        }
        bytes.resize(bytes.len().max(16), 0);
        let uniforms = gpu.checked("allocating kernel parameters", || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kernel parameters"),
                size: bytes.len() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        gpu.queue.write_buffer(&uniforms, 0, &bytes);
        let mut steps = Vec::with_capacity(described.len());
        for ((node, ds), slot) in described.into_iter().zip(slots) {
            let n = w.node(node);
            let mut bound = Vec::with_capacity(ds.len());
            for (d, (at, size)) in ds.into_iter().zip(slot) {
                let pipeline = pipeline(gpu, &d).map_err(|e| node_error(n, e))?;
                let layout = pipeline.get_bind_group_layout(0);
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: &uniforms, offset: at, size: wgpu::BufferSize::new(size) }),
                }];
                for (j, &buf) in d.buffers.iter().enumerate() {
                    let buffer = &b.buffers[buf];
                    let window = d.windows.iter().find(|w| w.0 == j).map(|&(_, offset, size)| (offset, size));
                    let size = window.map_or(buffer.size(), |w| w.1);
                    if size > limits.max_storage_buffer_binding_size {
                        return Err(Error::input(
                            Location::default().node(&n.name),
                            format!(
                                "kernel `{}` binds {size} bytes at once (of a {}-byte buffer), more than this adapter binds ({} bytes), \
                                 and no split of the op into pieces makes it fit; lower the batch size",
                                d.kernel.name,
                                buffer.size(),
                                limits.max_storage_buffer_binding_size
                            ),
                        ));
                    }
                    let resource = match window {
                        Some((offset, size)) => wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset, size: wgpu::BufferSize::new(size) }),
                        None => buffer.as_entire_binding(),
                    };
                    entries.push(wgpu::BindGroupEntry { binding: j as u32 + 1, resource });
                }
                let bind_group = gpu
                    .checked(&format!("binding buffers of `{}`", d.kernel.name), || {
                        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(&n.name), layout: &layout, entries: &entries })
                    })
                    .map_err(|e| node_error(n, e))?;
                bound.push(BoundDispatch { pipeline, bind_group, groups: d.groups });
            }
            steps.push(Step { node, dispatches: bound, host: hosts.remove(&node) });
        }
        gpu.take_error("planning the workload")?;
        Ok(Plan { buffers: b.buffers, values, steps, _uniforms: uniforms })
    }

    /// Records one compute pass per step (with its begin and end timestamps when `timestamps` is given).
    pub fn encode_step(&self, enc: &mut wgpu::CommandEncoder, step: &Step, timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: timestamps });
        for d in &step.dispatches {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
    }
}
