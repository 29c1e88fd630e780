//! Running a plan: encode every op as its own compute pass, submit, wait, and time it. With timestamp
//! queries each pass writes a GPU timestamp at its start and end, resolved and read back once per iteration;
//! without them each op is submitted alone and timed on the host (coarse: it includes submission and
//! waiting). The end-to-end time of an iteration is always host wall time from submit to work done.

use super::context::{map_read, Gpu};
use super::data::Tensor;
use super::host;
use super::plan::{HostStep, Memory, Plan};
use super::TimingMethod;
use crate::error::{Error, Result};
use crate::graph::Workload;
use petgraph::graph::NodeIndex;
use std::time::Instant;

/// One timed inference.
#[derive(Debug, Clone)]
pub struct Iteration {
    /// Submit to work done, seconds.
    pub wall_s: f64,
    /// Per step (in plan order): start and end in seconds from the first step's start.
    pub ops: Vec<(f64, f64)>,
}

/// Query sets, and the buffers their timestamps are resolved into and read back from.
struct Timer {
    sets: Vec<wgpu::QuerySet>,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    queries: u32,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

/// Queries per query set (wgpu's maximum); even, so a step's two timestamps share a set.
const SET_QUERIES: u32 = wgpu::QUERY_SET_MAX_QUERIES;

impl Timer {
    fn new(gpu: &Gpu, steps: usize) -> Result<Timer> {
        let queries = u32::try_from(2 * steps.max(1)).map_err(|_| Error::Unsupported("too many ops to time".into()))?;
        let sets = (0..queries.div_ceil(SET_QUERIES))
            .map(|s| {
                let count = (queries - s * SET_QUERIES).min(SET_QUERIES);
                gpu.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("op timestamps"), ty: wgpu::QueryType::Timestamp, count })
            })
            .collect();
        let bytes = u64::from(queries) * 8;
        let buffer = |usage, label| gpu.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: bytes, usage, mapped_at_creation: false });
        let resolve = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC, "timestamp resolve");
        let readback = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, "timestamp readback");
        gpu.take_error("creating timestamp queries")?;
        Ok(Timer { sets, resolve, readback, queries, period_ns: f64::from(gpu.queue.get_timestamp_period()) })
    }

    /// Where step `i`'s timestamps go.
    fn writes(&self, i: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        let q = 2 * i as u32;
        wgpu::ComputePassTimestampWrites {
            query_set: &self.sets[(q / SET_QUERIES) as usize],
            beginning_of_pass_write_index: Some(q % SET_QUERIES),
            end_of_pass_write_index: Some(q % SET_QUERIES + 1),
        }
    }

    fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        for (s, set) in self.sets.iter().enumerate() {
            let first = s as u32 * SET_QUERIES;
            let count = (self.queries - first).min(SET_QUERIES);
            enc.resolve_query_set(set, 0..count, &self.resolve, u64::from(first) * 8);
        }
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, u64::from(self.queries) * 8);
    }
}

/// A planned workload on a device, ready to run many times.
pub struct Executor<'g> {
    pub gpu: &'g Gpu,
    pub plan: Plan,
    timer: Option<Timer>,
}

impl<'g> Executor<'g> {
    pub fn new(gpu: &'g Gpu, w: &Workload) -> Result<Self> {
        Self::with_memory(gpu, w, Memory::KeepAll)
    }

    /// An executor whose plan keeps what `memory` says of the ops' outputs.
    pub fn with_memory(gpu: &'g Gpu, w: &Workload, memory: Memory) -> Result<Self> {
        let plan = Plan::with_memory(gpu, w, memory)?;
        let timer = if gpu.timestamps { Some(Timer::new(gpu, plan.steps.len())?) } else { None };
        Ok(Executor { gpu, plan, timer })
    }

    pub fn timing(&self) -> TimingMethod {
        if self.timer.is_some() { TimingMethod::TimestampQuery } else { TimingMethod::PerOpSubmit }
    }

    /// Runs every op once and waits (no timing).
    pub fn run_once(&self) -> Result<()> {
        self.drive(None).map(|_| ())
    }

    /// One timed inference.
    pub fn iterate(&self) -> Result<Iteration> {
        match &self.timer {
            Some(t) => self.drive(Some(t)),
            None => self.iterate_per_op(),
        }
    }

    /// Encodes every segment of GPU ops between host steps up front (so that encoding is not timed), then
    /// submits them in order, running each host step between its segments. With a timer, every pass writes
    /// its timestamps; a segment's ticks are placed on the host clock at the time it was submitted.
    fn drive(&self, timer: Option<&Timer>) -> Result<Iteration> {
        let steps = &self.plan.steps;
        // Segments: runs of GPU steps, each ended by a host step or the end of the plan.
        let mut commands: Vec<wgpu::CommandBuffer> = Vec::new();
        let mut segments: Vec<(Vec<usize>, Option<usize>)> = Vec::new();
        let new_encoder = || self.gpu.device.create_command_encoder(&Default::default());
        let mut enc = new_encoder();
        let mut members = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if step.host.is_some() {
                commands.push(std::mem::replace(&mut enc, new_encoder()).finish());
                segments.push((std::mem::take(&mut members), Some(i)));
            } else {
                self.plan.encode_step(&mut enc, step, timer.map(|t| t.writes(i)));
                members.push(i);
            }
        }
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        commands.push(enc.finish());
        segments.push((members, None));

        let mut ops = vec![(0.0, 0.0); steps.len()];
        let mut submitted = Vec::with_capacity(segments.len());
        let t0 = Instant::now();
        for (cb, (_, host)) in commands.into_iter().zip(&segments) {
            submitted.push(t0.elapsed().as_secs_f64());
            self.gpu.queue.submit([cb]);
            if let Some(h) = *host {
                self.gpu.wait()?;
                let start = t0.elapsed().as_secs_f64();
                self.host_step(steps[h].host.as_ref().expect("a host step"))?;
                ops[h] = (start, t0.elapsed().as_secs_f64());
            }
        }
        self.gpu.wait()?;
        let wall_s = t0.elapsed().as_secs_f64();
        if let Some(timer) = timer {
            let raw = map_read(self.gpu, &timer.readback, u64::from(timer.queries) * 8)?;
            let ticks: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            let secs = |t: u64, first: u64| t.saturating_sub(first) as f64 * timer.period_ns * 1e-9;
            for (k, (members, _)) in segments.iter().enumerate() {
                let Some(first) = members.iter().map(|&i| ticks[2 * i]).min() else { continue };
                // The first segment starts the timeline; later ones start when they were submitted.
                let base = if k == 0 { 0.0 } else { submitted[k] };
                for &i in members {
                    let (a, b) = (base + secs(ticks[2 * i], first), base + secs(ticks[2 * i + 1], first));
                    ops[i] = (a, b.max(a));
                }
            }
        }
        Ok(Iteration { wall_s, ops })
    }

    /// Reads the inputs back (the synchronization the real host code pays), runs the stand-in, uploads the
    /// output (ordered before the next submission).
    fn host_step(&self, h: &HostStep) -> Result<()> {
        for t in &h.inputs {
            self.gpu.read(&self.plan.buffers[t.buffer], t.offset * 4, (t.numel() * 4).max(4))?;
        }
        let mut scratch = h.scratch.lock().unwrap_or_else(|p| p.into_inner());
        std::hint::black_box(host::stand_in(&mut scratch, h.flops, h.threads));
        let out = &h.output;
        self.gpu.queue.write_buffer(&self.plan.buffers[out.buffer], out.offset * 4, bytemuck::cast_slice(&h.words));
        Ok(())
    }

    fn iterate_per_op(&self) -> Result<Iteration> {
        let t0 = Instant::now();
        let mut ops = Vec::with_capacity(self.plan.steps.len());
        for step in &self.plan.steps {
            let start = t0.elapsed().as_secs_f64();
            if let Some(h) = &step.host {
                self.host_step(h)?;
            } else {
                let mut enc = self.gpu.device.create_command_encoder(&Default::default());
                self.plan.encode_step(&mut enc, step, None);
                self.gpu.queue.submit([enc.finish()]);
                self.gpu.wait()?;
            }
            ops.push((start, t0.elapsed().as_secs_f64()));
        }
        Ok(Iteration { wall_s: t0.elapsed().as_secs_f64(), ops })
    }

    /// The current value of node `i` (an input, a weight, an op output or a view of one).
    pub fn read_value(&self, i: NodeIndex) -> Result<Tensor> {
        let t = &self.plan.values[i.index()];
        let bytes = self.gpu.read(&self.plan.buffers[t.buffer], t.offset * 4, t.numel() * 4)?;
        let words: Vec<u32> = bytemuck::cast_slice(&bytes).to_vec();
        Ok(Tensor::from_words(t.info.dtype, &t.info.shape, &words))
    }

    /// Whole buffers read back (for checking many values at once).
    pub fn read_buffer(&self, buffer: usize) -> Result<Vec<u32>> {
        let b = &self.plan.buffers[buffer];
        Ok(bytemuck::cast_slice(&self.gpu.read(b, 0, b.size())?).to_vec())
    }

    /// Fills every op output with NaN, so that an element a kernel forgets to write shows up in a check.
    pub fn poison_outputs(&self) -> Result<()> {
        const CHUNK: usize = 1 << 20;
        let nan = vec![f32::NAN.to_bits(); CHUNK];
        for step in &self.plan.steps {
            let t = &self.plan.values[step.node.index()];
            let buffer = &self.plan.buffers[t.buffer];
            let mut done = 0u64;
            while done < t.numel() {
                let n = (t.numel() - done).min(CHUNK as u64);
                self.gpu.queue.write_buffer(buffer, (t.offset + done) * 4, bytemuck::cast_slice(&nan[..n as usize]));
                done += n;
            }
        }
        self.gpu.wait()
    }
}
