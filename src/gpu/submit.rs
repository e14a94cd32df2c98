//! What goes to the device for a frame: the compositor's buffers and bind groups, the uniforms and
//! block lists of a plan, the recorded passes, and the start of the readback.

use std::sync::atomic::Ordering;

use super::compositor::{Compositor, Target};
use super::device::Gpu;
use super::kernels::Pipelines;
use super::planner::Plan;
use super::readback::{ts_offset, MAP_DONE, MAP_FAILED, MAP_PENDING, MAP_SKIPPED, TS_QUERIES};
use super::scene::GpuOptions;
use super::uniforms::{JobU, SceneU, JOB_SLOT};
use super::{buffer, storage};

/// Dispatches one frame may have (each has its own slot in the job buffer).
pub(super) const MAX_JOBS: usize = 1024;

impl Target {
    /// View `v`'s NV12 picture and frame-wide uniform.
    pub(super) fn new(device: &wgpu::Device, v: usize, nv12_len: u64) -> Target {
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let scene_len = std::mem::size_of::<SceneU>() as u64;
        Target {
            nv12: buffer(device, &format!("nv12 {v}"), nv12_len, usage),
            scene_buf: buffer(
                device,
                &format!("scene {v}"),
                scene_len,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            group0: None,
            drawn: None,
        }
    }
}

impl Compositor {
    /// The job buffer and one bind group per dispatch slot in it.
    pub(super) fn job_slots(device: &wgpu::Device, pipelines: &Pipelines) -> (wgpu::Buffer, Vec<wgpu::BindGroup>) {
        let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let job_buf = buffer(device, "jobs", JOB_SLOT * MAX_JOBS as u64, usage);
        let groups = (0..MAX_JOBS as u64)
            .map(|i| {
                let binding = wgpu::BufferBinding {
                    buffer: &job_buf,
                    offset: i * JOB_SLOT,
                    size: wgpu::BufferSize::new(std::mem::size_of::<JobU>() as u64),
                };
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("job"),
                    layout: &pipelines.layout1,
                    entries: &[wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(binding) }],
                })
            })
            .collect();
        (job_buf, groups)
    }

    /// Pass timestamps, when asked for and the adapter has them.
    pub(super) fn timestamp_queries(gpu: &Gpu, opts: GpuOptions) -> Option<(wgpu::QuerySet, wgpu::Buffer)> {
        if opts.gpu_timing && !gpu.timestamps {
            tracing::warn!("GPU timestamps are not supported by this adapter; GPU stage times are not reported");
        }
        (opts.gpu_timing && gpu.timestamps).then(|| {
            let qs = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: TS_QUERIES,
            });
            let usage = wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC;
            (qs, buffer(&gpu.device, "timestamps", 256, usage))
        })
    }

    pub(super) fn build_groups(&mut self) {
        fn e(binding: u32, b: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() }
        }
        let first = self.targets[0].nv12.clone();
        for (v, t) in self.targets.iter_mut().enumerate() {
            if t.group0.is_none() {
                let donor = if v == 0 { &self.no_donor } else { &first };
                t.group0 = Some(self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("compositor resources"),
                    layout: &self.pipelines.layout0,
                    entries: &[
                        e(0, &t.scene_buf),
                        e(1, &self.planes_buf),
                        e(2, &self.images_buf),
                        e(3, &self.list_buf),
                        e(4, &t.nv12),
                        e(5, &self.scratch[0]),
                        e(6, &self.scratch[1]),
                        e(7, donor),
                    ],
                }));
            }
        }
    }

    /// Grows the buffers the plan needs and writes its uniforms and lists, and the frames the CPU
    /// drew.
    pub(super) fn write_buffers(&mut self, plan: &Plan) {
        self.cpu_ms = [0.0; 2];
        for cv in &plan.cpu {
            self.draw_cpu(cv, plan.scratch_len);
            self.gpu.queue.write_buffer(&self.targets[cv.view].nv12, 0, &self.cpu_frame);
        }
        if self.planes_stale && plan.dispatches.iter().any(|d| d.kernel.reads_planes()) {
            self.gpu.queue.write_buffer(&self.planes_buf, 0, &self.host_planes);
            self.planes_stale = false;
        }
        let d = self.gpu.device.clone();
        let need_list = (plan.list.len() * 4) as u64;
        if self.list_buf.size() < need_list {
            self.list_buf = storage(&d, "block list", need_list.next_power_of_two());
            self.invalidate_groups();
        }
        let need_scratch = plan.scratch_len as u64 * 16;
        if self.scratch[0].size() < need_scratch {
            let sz = need_scratch.next_power_of_two();
            self.scratch = [storage(&d, "scratch a", sz), storage(&d, "scratch b", sz)];
            self.invalidate_groups();
        }
        self.build_groups();
        let q = &self.gpu.queue;
        for (t, su) in self.targets.iter().zip(&plan.scenes) {
            q.write_buffer(&t.scene_buf, 0, bytemuck::bytes_of(su));
        }
        if !plan.list.is_empty() {
            q.write_buffer(&self.list_buf, 0, bytemuck::cast_slice(&plan.list));
        }
        let mut jobs = vec![0u8; plan.dispatches.len() * JOB_SLOT as usize];
        for (i, p) in plan.dispatches.iter().enumerate() {
            let o = i * JOB_SLOT as usize;
            jobs[o..o + std::mem::size_of::<JobU>()].copy_from_slice(bytemuck::bytes_of(&p.job));
        }
        if !jobs.is_empty() {
            q.write_buffer(&self.job_buf, 0, &jobs);
        }
    }

    /// Records the four passes (tiles, blur, layers, masks — renditions are copied from their base
    /// before the masks) and the copies into staging buffer `idx`.
    pub(super) fn record(&self, plan: &Plan, idx: usize) -> wgpu::CommandBuffer {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        for (pass_i, label) in [(0, "tiles"), (1, "blur"), (2, "layers"), (3, "masks")] {
            if pass_i == 3 {
                for &(k, v) in &plan.copies {
                    enc.copy_buffer_to_buffer(&self.targets[k].nv12, 0, &self.targets[v].nv12, 0, self.nv12_len);
                }
            }
            if !plan.has_pass(pass_i) {
                continue;
            }
            let ts = self.queries.as_ref().filter(|_| pass_i < 3).map(|(qs, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(pass_i as u32 * 2),
                end_of_pass_write_index: Some(pass_i as u32 * 2 + 1),
            });
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: ts });
            let mut bound = usize::MAX;
            for (i, p) in plan.dispatches.iter().enumerate().filter(|(_, p)| p.pass == pass_i) {
                if p.groups.0 == 0 || p.groups.1 == 0 {
                    continue;
                }
                if bound != p.view {
                    pass.set_bind_group(0, self.targets[p.view].group0.as_ref().expect("built before recording"), &[]);
                    bound = p.view;
                }
                pass.set_pipeline(self.pipelines.get(p.kernel));
                pass.set_bind_group(1, &self.job_groups[i], &[]);
                pass.dispatch_workgroups(p.groups.0, p.groups.1, 1);
            }
        }
        let st = &self.staging[idx];
        for (v, (t, (buf, _))) in self.targets.iter().zip(&st.views).enumerate() {
            if !plan.skipped.contains(&v) {
                enc.copy_buffer_to_buffer(&t.nv12, 0, buf, 0, self.nv12_len);
            }
        }
        if let Some((qs, qbuf)) = &self.queries {
            enc.resolve_query_set(qs, 0..TS_QUERIES, qbuf, 0);
            enc.copy_buffer_to_buffer(qbuf, 0, &st.views[0].0, ts_offset(self.nv12_len), TS_QUERIES as u64 * 8);
        }
        enc.finish()
    }

    /// Maps staging buffer `idx` once submission `sub` is done; the frame joins the queue in flight.
    pub(super) fn start_readback(&mut self, idx: usize, tag: u64, plan: &Plan, sub: wgpu::SubmissionIndex) {
        let st = &mut self.staging[idx];
        st.tag = tag;
        st.timed = self.queries.is_some();
        st.had_blur = plan.has_pass(1);
        st.had_layers = plan.has_pass(2);
        st.cpu_ms = self.cpu_ms;
        st.submission = Some(sub);
        for (v, (buf, state)) in st.views.iter().enumerate() {
            if plan.skipped.contains(&v) {
                state.store(MAP_SKIPPED, Ordering::Release);
                continue;
            }
            state.store(MAP_PENDING, Ordering::Release);
            let state = state.clone();
            buf.map_async(wgpu::MapMode::Read, .., move |r| {
                state.store(if r.is_ok() { MAP_DONE } else { MAP_FAILED }, Ordering::Release);
            });
        }
        self.in_flight.push_back(idx);
    }
}
