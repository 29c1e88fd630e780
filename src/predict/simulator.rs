//! The event-driven simulator. A host thread issues the plan's ops in program order, paying each op's issue
//! cost and waiting on blocking ones (copies, ops on its own processor). Every device stream runs its ops in
//! order; an op starts once it is issued, its inputs are ready and its stream is free. Kernels on different
//! streams of one device overlap and share the device in proportion to the units they occupy (processor
//! sharing): kernels that together fit on the device run at full speed, otherwise all slow down equally.
//! Links carry one copy at a time. Fusion nodes therefore wait for their slowest input.
//!
//! When no device runs more than one stream, nothing can share a device and the schedule is the max-plus
//! recursion `start = max(issue, inputs ready, resource free)`; that fast path gives the same result as the
//! general one (a property test checks it) at a fraction of the cost.

use super::plan::{Plan, Resource};
use crate::trace::RecordKind;

/// Start and end time of every plan op, and the end-to-end latency.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub start_s: Vec<f64>,
    pub end_s: Vec<f64>,
    pub latency_s: f64,
}

/// Runs the plan.
pub fn simulate(plan: &Plan) -> Schedule {
    if plan.has_concurrency() { simulate_shared(plan) } else { simulate_in_order(plan) }
}

/// The fast path: one stream per device, so every resource runs one op at a time in issue order.
pub fn simulate_in_order(plan: &Plan) -> Schedule {
    let n = plan.ops.len();
    let mut start = vec![0.0; n];
    let mut end = vec![0.0; n];
    let n_dev = plan.max_concurrent.len();
    // Resource slots: device streams first (one per device in this mode), then links.
    let mut dev_free = vec![0.0f64; n_dev];
    let mut link_free: Vec<f64> = Vec::new();
    let mut host = 0.0f64;
    for (i, op) in plan.ops.iter().enumerate() {
        if op.kind == RecordKind::Input {
            continue;
        }
        let issue = host + op.host_cost_s;
        let mut ready = issue;
        for &d in plan.deps_of(i) {
            ready = ready.max(end[d as usize]);
        }
        let free = match op.resource {
            Resource::Stream(dev, _) => &mut dev_free[dev as usize],
            Resource::Link(l) => {
                if link_free.len() <= l as usize {
                    link_free.resize(l as usize + 1, 0.0);
                }
                &mut link_free[l as usize]
            }
            Resource::None => unreachable!("only inputs have no resource"),
        };
        let s = ready.max(*free);
        let e = s + op.duration_s;
        *free = e;
        start[i] = s;
        end[i] = e;
        host = if op.blocking { e } else { issue };
    }
    let last = end.iter().copied().fold(host, f64::max);
    Schedule { start_s: start, end_s: end, latency_s: last + plan.final_sync_s }
}

#[derive(Clone, Copy)]
struct Running {
    op: u32,
    remaining: f64,
}

/// The general path: streams share devices (processor sharing by occupancy).
pub fn simulate_shared(plan: &Plan) -> Schedule {
    let n = plan.ops.len();
    let n_dev = plan.max_concurrent.len();
    let mut start = vec![0.0; n];
    let mut end = vec![0.0; n];
    let mut done = vec![false; n];
    let mut remaining_deps: Vec<u32> = plan.ops.iter().map(|o| o.deps.len() as u32).collect();
    let mut consumers: Vec<Vec<u32>> = vec![Vec::new(); n];
    for i in 0..n {
        for &d in plan.deps_of(i) {
            consumers[d as usize].push(i as u32);
        }
    }
    // Queues: one per (resource) stream, keyed densely.
    let mut queue_of: Vec<usize> = vec![usize::MAX; n];
    let mut queue_keys: Vec<Resource> = Vec::new();
    for (i, o) in plan.ops.iter().enumerate() {
        if o.resource == Resource::None {
            continue;
        }
        let q = match queue_keys.iter().position(|&k| k == o.resource) {
            Some(q) => q,
            None => {
                queue_keys.push(o.resource);
                queue_keys.len() - 1
            }
        };
        queue_of[i] = q;
    }
    let nq = queue_keys.len();
    let mut queues: Vec<std::collections::VecDeque<u32>> = vec![Default::default(); nq];
    let mut queue_busy = vec![false; nq];
    // Running ops per device, and per link (one at a time).
    let mut running: Vec<Vec<Running>> = vec![Vec::new(); n_dev];
    let mut link_running: Vec<Option<Running>> = Vec::new();

    let mut now = 0.0f64;
    let mut host_free = 0.0f64;
    let mut host_wait: Option<u32> = None;
    let mut next_issue = 0usize;
    let mut completed = 0usize;

    loop {
        // Issue everything the host can issue by `now`.
        while host_wait.is_none() && next_issue < n {
            let op = &plan.ops[next_issue];
            let t = host_free + op.host_cost_s;
            if t > now {
                break;
            }
            host_free = t;
            if op.kind == RecordKind::Input {
                done[next_issue] = true;
                completed += 1;
                for &c in &consumers[next_issue] {
                    remaining_deps[c as usize] -= 1;
                }
            } else {
                queues[queue_of[next_issue]].push_back(next_issue as u32);
                if op.blocking {
                    host_wait = Some(next_issue as u32);
                }
            }
            next_issue += 1;
        }
        // Start every queue head that can start.
        let mut started_any = true;
        while started_any {
            started_any = false;
            for q in 0..nq {
                if queue_busy[q] {
                    continue;
                }
                let Some(&head) = queues[q].front() else { continue };
                let h = head as usize;
                if remaining_deps[h] > 0 {
                    continue;
                }
                let op = &plan.ops[h];
                match op.resource {
                    Resource::Stream(d, _) => {
                        let d = d as usize;
                        if running[d].len() as u32 >= plan.max_concurrent[d] {
                            continue;
                        }
                        running[d].push(Running { op: head, remaining: op.duration_s });
                    }
                    Resource::Link(l) => {
                        let l = l as usize;
                        if link_running.len() <= l {
                            link_running.resize(l + 1, None);
                        }
                        if link_running[l].is_some() {
                            continue;
                        }
                        link_running[l] = Some(Running { op: head, remaining: op.duration_s });
                    }
                    Resource::None => unreachable!(),
                }
                queues[q].pop_front();
                queue_busy[q] = true;
                start[h] = now;
                started_any = true;
            }
        }
        // Next event: an issue, or the first completion under the current sharing rates.
        let rates: Vec<f64> = running
            .iter()
            .map(|r| {
                let demand: f64 = r.iter().map(|x| plan.ops[x.op as usize].occupancy.max(1e-9)).sum();
                if demand <= 1.0 { 1.0 } else { 1.0 / demand }
            })
            .collect();
        let mut next = f64::INFINITY;
        if host_wait.is_none() && next_issue < n {
            next = next.min(host_free + plan.ops[next_issue].host_cost_s);
        }
        for (d, r) in running.iter().enumerate() {
            for x in r {
                next = next.min(now + x.remaining / rates[d]);
            }
        }
        for x in link_running.iter().flatten() {
            next = next.min(now + x.remaining);
        }
        if !next.is_finite() {
            break;
        }
        // Advance to it and retire what finished: every op whose projected end is not after `next` (the op that
        // set `next` always is, so the clock moves on even when a leftover is below the resolution of `now`,
        // which an absolute threshold misses once timelines reach seconds).
        let (prev, dt) = (now, next - now);
        now = next;
        let mut finished: Vec<u32> = Vec::new();
        for (d, r) in running.iter_mut().enumerate() {
            r.retain_mut(|x| {
                let ends_at = prev + x.remaining / rates[d];
                x.remaining -= dt * rates[d];
                if ends_at <= now || x.remaining <= 1e-15 {
                    finished.push(x.op);
                    false
                } else {
                    true
                }
            });
        }
        for slot in link_running.iter_mut() {
            if let Some(x) = slot {
                let ends_at = prev + x.remaining;
                x.remaining -= dt;
                if ends_at <= now || x.remaining <= 1e-15 {
                    finished.push(x.op);
                    *slot = None;
                }
            }
        }
        for f in finished {
            let fi = f as usize;
            end[fi] = now;
            done[fi] = true;
            completed += 1;
            queue_busy[queue_of[fi]] = false;
            for &c in &consumers[fi] {
                remaining_deps[c as usize] -= 1;
            }
            if host_wait == Some(f) {
                host_wait = None;
                host_free = host_free.max(now);
            }
        }
    }
    debug_assert_eq!(completed, n, "the simulation stalled");
    let last = end.iter().copied().fold(host_free, f64::max);
    Schedule { start_s: start, end_s: end, latency_s: last + plan.final_sync_s }
}
