//! The compositor: decoded planes in, NV12 out, for every view of a job in one submission.
//!
//! The output frame is an NV12 storage buffer (BT.709, limited range) written by small compute
//! dispatches, each over only the 4×2-pixel blocks it concerns (see [`super::planner`]). Nothing is
//! converted to RGB and no pass covers the frame twice. A frame is: plan every view, write the
//! uniforms and lists, record the passes, submit, start the readback ([`super::readback`]).

use std::collections::VecDeque;
use std::sync::Arc;

use super::cpu_draw::Canvas;
use super::device::Gpu;
use super::dirty::{area, Drawn, Frame};
use super::kernels::{Kernel, Pipelines};
use super::planner::{CpuView, Dispatch, Plan, Planner, SlotInfo};
use super::readback::Staging;
use super::scene::{GpuOptions, GpuTimes, LayerKind, LayerSpec, Ready, Scene, MAX_BLURS, MAX_LAYERS, MAX_TILES};
use super::storage;
use crate::error::{invalid, Error, Result};

/// Dispatches one frame may have (each has its own slot in the job buffer).
const MAX_JOBS: usize = 1024;

/// One output picture composed from the shared input planes: its NV12 buffer (kept between frames,
/// which is what dirty-region reuse draws on), its frame-wide uniform and what it shows now.
pub(super) struct Target {
    pub(super) nv12: wgpu::Buffer,
    pub(super) scene_buf: wgpu::Buffer,
    pub(super) group0: Option<wgpu::BindGroup>,
    pub(super) drawn: Option<Drawn>,
}

pub struct Compositor {
    pub(super) gpu: Arc<Gpu>,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) opts: GpuOptions,
    pub(super) pipelines: Pipelines,
    pub(super) planes_buf: wgpu::Buffer,
    pub(super) images_buf: wgpu::Buffer,
    pub(super) list_buf: wgpu::Buffer,
    pub(super) scratch: [wgpu::Buffer; 2],
    /// Software devices: the plane buffer's bytes on the host, and a frame the CPU draws into
    /// (see [`super::cpu_copy`]); empty otherwise.
    pub(super) host_planes: Vec<u8>,
    pub(super) cpu_frame: Vec<u8>,
    /// `host_planes` has pictures the plane buffer does not have yet.
    pub(super) planes_stale: bool,
    /// Views whose tiles the CPU drew in the last render, and how many of them it finished.
    pub(super) cpu_drawn: usize,
    pub(super) cpu_finished: usize,
    /// The CPU's drawing time in the last render (ms): composite (tiles, layers), blur.
    pub(super) cpu_ms: [f64; 2],
    /// The blurs' grids when the CPU draws them (`scratch` on the host).
    pub(super) cpu_scratch: [Vec<[f32; 3]>; 2],
    /// Bound as the first view's donor buffer in the first view itself (see `view_copy`).
    pub(super) no_donor: wgpu::Buffer,
    pub(super) job_buf: wgpu::Buffer,
    pub(super) job_groups: Vec<wgpu::BindGroup>,
    pub(super) targets: Vec<Target>,
    pub(super) images: Vec<(u32, u32, u32)>,
    pub(super) image_data: Vec<image::RgbaImage>,
    pub(super) image_vers: Vec<u64>,
    pub(super) slots: Vec<Option<SlotInfo>>,
    pub(super) slot_gens: Vec<u64>,
    pub(super) needs_upload: Vec<bool>,
    /// Per view, the fraction of the frame the last render drew (1 without dirty-region reuse).
    pub(super) drawn_fraction: Vec<f32>,
    /// Per view, the fraction of the frame the last render took from another view's picture.
    pub(super) shared_fraction: Vec<f32>,
    pub(super) staging: Vec<Staging>,
    pub(super) in_flight: VecDeque<usize>,
    pub(super) next_staging: usize,
    pub(super) queries: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    pub(super) nv12_len: u64,
}

impl Compositor {
    pub fn new(gpu: Arc<Gpu>, width: u32, height: u32, opts: GpuOptions) -> Result<Compositor> {
        Self::with_views(gpu, width, height, opts, 1)
    }

    /// A compositor that draws `views` pictures per frame from the same uploaded inputs (e.g. the two
    /// mirrored outputs of a PK and the anchors' monitors): each view has its own scene and NV12
    /// output, all are composed in one submission.
    pub fn with_views(gpu: Arc<Gpu>, width: u32, height: u32, opts: GpuOptions, views: usize) -> Result<Compositor> {
        check_size(&gpu, width, height, opts, views)?;
        let device = &gpu.device;
        let pipelines = Pipelines::new(device, opts.workgroup);
        let nv12_len = width as u64 * height as u64 * 3 / 2;
        let targets = (0..views).map(|v| Target::new(device, v, nv12_len)).collect();
        let (job_buf, job_groups) = Compositor::job_slots(device, &pipelines);
        let queries = Compositor::timestamp_queries(&gpu, opts);
        let staging = (0..opts.readback_depth.max(1)).map(|i| Staging::new(device, i, views, nv12_len)).collect();
        Ok(Compositor {
            pipelines,
            planes_buf: storage(device, "planes", 16),
            images_buf: storage(device, "images", 16),
            list_buf: storage(device, "block list", 4096),
            scratch: [storage(device, "scratch a", 16 * 1024), storage(device, "scratch b", 16 * 1024)],
            no_donor: storage(device, "no donor", 16),
            host_planes: Vec::new(),
            cpu_frame: Vec::new(),
            planes_stale: false,
            cpu_drawn: 0,
            cpu_finished: 0,
            cpu_ms: [0.0; 2],
            cpu_scratch: [Vec::new(), Vec::new()],
            job_buf,
            job_groups,
            targets,
            images: Vec::new(),
            image_data: Vec::new(),
            image_vers: Vec::new(),
            slots: Vec::new(),
            slot_gens: Vec::new(),
            drawn_fraction: vec![1.0; views],
            shared_fraction: vec![0.0; views],
            needs_upload: Vec::new(),
            staging,
            in_flight: VecDeque::new(),
            next_staging: 0,
            queries,
            nv12_len,
            width,
            height,
            opts,
            gpu,
        })
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Fraction of view `v`'s frame that the last render drew (less than 1 when dirty-region reuse
    /// kept part of the previous frame).
    pub fn drawn_fraction(&self, v: usize) -> f32 {
        self.drawn_fraction.get(v).copied().unwrap_or(1.0)
    }

    /// Fraction of view `v`'s frame that the last render copied from another view instead of
    /// drawing it (a whole copy for a rendition or a monitor; the shared tiles of a mirrored view).
    pub fn shared_fraction(&self, v: usize) -> f32 {
        self.shared_fraction.get(v).copied().unwrap_or(0.0)
    }

    /// How many views' tiles the CPU drew in the last render (software devices: 1:1 and scaled
    /// tiles).
    pub fn cpu_drawn_views(&self) -> usize {
        self.cpu_drawn
    }

    /// How many views the CPU drew entirely (no kernel ran for them) in the last render.
    pub fn cpu_finished_views(&self) -> usize {
        self.cpu_finished
    }

    /// Buffers were replaced: every view's resource bind group must be built again.
    pub(super) fn invalidate_groups(&mut self) {
        for t in &mut self.targets {
            t.group0 = None;
        }
    }

    /// Composes one frame and starts its readback. Frames come back through `on_ready` in submission
    /// order, `readback_depth - 1` frames later (all remaining ones on [`Compositor::flush`]).
    pub fn render(&mut self, scene: &Scene, tag: u64, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        self.render_views(std::slice::from_ref(scene), tag, on_ready)
    }

    /// Composes one frame of every view (`scenes[v]` for view v) from the current input planes in one
    /// submission, and starts their readback; `on_ready` gets each view's frame as it comes back.
    pub fn render_views(
        &mut self,
        scenes: &[Scene],
        tag: u64,
        on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>,
    ) -> Result<()> {
        let _span = tracing::trace_span!("composite", tag).entered();
        check_scenes(scenes, self.targets.len())?;
        // Make room: the staging buffers we are about to use must have been delivered.
        let idx = self.next_staging;
        while self.staging[idx].submission.is_some() {
            self.deliver_one(true, on_ready)?;
        }
        self.next_staging = (idx + 1) % self.staging.len();
        let (plan, drawn) = self.plan(scenes);
        self.cpu_drawn = plan.cpu.len();
        self.cpu_finished = plan.cpu.iter().filter(|c| !plan.dispatches.iter().any(|d| d.view == c.view)).count();
        let drawn_views = self.targets.len() - plan.skipped.len();
        if plan.cpu.len() == drawn_views && plan.dispatches.is_empty() && plan.copies.is_empty() {
            return self.deliver_cpu(&plan, tag, on_ready);
        }
        if plan.dispatches.len() > MAX_JOBS {
            return Err(invalid(
                "scene",
                format!("{} GPU jobs in one frame; at most {MAX_JOBS}", plan.dispatches.len()),
            ));
        }
        self.write_buffers(&plan);
        let commands = self.record(&plan, idx);
        let sub = self.gpu.queue.submit(Some(commands));
        if let Some(e) = self.gpu.take_error() {
            for t in &mut self.targets {
                t.drawn = None;
            }
            return Err(Error::Device(e));
        }
        for (t, dr) in self.targets.iter_mut().zip(drawn) {
            // An idle view's buffer keeps an old picture: it is drawn whole when it draws again.
            t.drawn = (!dr.scene.skip).then_some(dr);
        }
        self.start_readback(idx, tag, &plan, sub);
        self.deliver_ready(on_ready)
    }

    /// Every view's dispatches, and what each view's buffer will hold once they ran.
    fn plan(&mut self, scenes: &[Scene]) -> (Plan, Vec<Drawn>) {
        let frame = Frame { blocks: (self.width / 4, self.height / 2) };
        let planner = Planner::new(self.width, self.height, self.opts.workgroup, &self.slots, &self.images);
        let mut plan = Plan::default();
        let mut drawn = Vec::with_capacity(scenes.len());
        for (view, scene) in scenes.iter().enumerate() {
            if scene.skip {
                plan.scenes.push(bytemuck::Zeroable::zeroed());
                plan.skipped.push(view);
                drawn.push(Drawn {
                    scene: scene.clone(),
                    tile_gens: Vec::new(),
                    under_vers: Vec::new(),
                    layer_vers: Vec::new(),
                });
                continue;
            }
            let vers = |ls: &[LayerSpec]| -> Vec<u64> {
                ls.iter()
                    .map(|l| {
                        if let LayerKind::Image(i) = l.kind {
                            self.image_vers.get(i).copied().unwrap_or(0)
                        } else {
                            0
                        }
                    })
                    .collect()
            };
            let now = Drawn {
                scene: scene.clone(),
                tile_gens: scene.tiles.iter().map(|t| self.slot_gens.get(t.slot).copied().unwrap_or(0)).collect(),
                under_vers: vers(&scene.under),
                layer_vers: vers(&scene.layers),
            };
            let prev = self.targets[view].drawn.as_ref().filter(|_| self.opts.dirty_reuse);
            // A rendition is its base's picture plus masks, and a view that shows an earlier one's
            // picture with more layers on top (an anchor's monitor) starts from a copy of it too:
            // both are drawn whole, over the copy.
            let base = scene.copy_of.map(|k| (k, scene.layers.len())).or_else(|| picture_base(scenes, view));
            let dirty = if base.is_some() { frame.dirty_rects(None, &now) } else { frame.dirty_rects(prev, &now) };
            let (wb, hb) = frame.blocks;
            self.drawn_fraction[view] = dirty.iter().map(area).sum::<u64>() as f32 / (wb as u64 * hb as u64) as f32;
            let before = plan.dispatches.len();
            planner.plan_view(&mut plan, view, scene, &dirty, base);
            if self.cpu_draw() && base.is_none() {
                let whole = dirty == [[0, 0, wb, hb]];
                let pass0: Vec<_> = plan.dispatches.drain(before..).collect();
                let (first, rest): (Vec<_>, Vec<_>) = pass0.into_iter().partition(|d| d.pass == 0);
                match super::cpu_copy::cpu_pass0(&first, whole, !scene.under.is_empty()) {
                    Some(tiles) => plan.cpu.push(CpuView { view, tiles, finish: Vec::new() }),
                    None => plan.dispatches.extend(first),
                }
                plan.dispatches.extend(rest);
            }
            let copied: u64 = plan.dispatches[before..]
                .iter()
                .filter(|d| d.kernel == Kernel::ViewCopy)
                .map(|d| d.job.blocks[0] as u64 * d.job.blocks[1] as u64)
                .sum();
            self.shared_fraction[view] =
                if base.is_some() { 1.0 } else { copied as f32 / (wb as u64 * hb as u64) as f32 };
            drawn.push(now);
        }
        cpu_finish(&mut plan);
        (plan, drawn)
    }

    /// Draws a view's CPU work into `cpu_frame`, adding its time to `cpu_ms`.
    pub(super) fn draw_cpu(&mut self, cv: &CpuView, scratch_len: u32) {
        let t0 = std::time::Instant::now();
        let mut blur_s = 0.0;
        self.cpu_frame.resize(self.nv12_len as usize, 0);
        super::cpu_copy::run_tiles(&self.host_planes, &cv.tiles, self.width, self.height, &mut self.cpu_frame);
        for s in &mut self.cpu_scratch {
            s.resize(scratch_len as usize, [0.0; 3]);
        }
        let mut canvas = Canvas {
            frame: &mut self.cpu_frame,
            width: self.width,
            height: self.height,
            scratch: &mut self.cpu_scratch,
        };
        for d in &cv.finish {
            let t = std::time::Instant::now();
            canvas.run(d);
            if d.pass == 1 {
                blur_s += t.elapsed().as_secs_f64();
            }
        }
        self.cpu_ms[0] += (t0.elapsed().as_secs_f64() - blur_s) * 1e3;
        self.cpu_ms[1] += blur_s * 1e3;
    }

    /// A frame the CPU draws whole (every view, nothing left for the kernels): each view goes to
    /// `on_ready` straight from the host, after the frames still in flight, with no upload,
    /// dispatch or readback. The views' GPU buffers do not get these pictures, so the next frame
    /// the kernels draw is drawn whole.
    fn deliver_cpu(&mut self, plan: &Plan, tag: u64, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.deliver_one(true, on_ready)?;
        }
        for t in &mut self.targets {
            t.drawn = None;
        }
        for cv in &plan.cpu {
            self.cpu_ms = [0.0; 2];
            self.draw_cpu(cv, plan.scratch_len);
            let gpu =
                self.opts.gpu_timing.then_some(GpuTimes { composite_ms: self.cpu_ms[0], blur_ms: self.cpu_ms[1] });
            on_ready(Ready { view: cv.view, tag, nv12: &self.cpu_frame, gpu, wait_ms: 0.0 })?;
        }
        Ok(())
    }

    /// True when the CPU draws what it can of a frame: 1:1 and scaled tiles, blurs, solid layers (a
    /// software device, unless turned off).
    pub(super) fn cpu_draw(&self) -> bool {
        self.opts.cpu_draw && self.gpu.is_software()
    }
}

/// Moves the blurs and solid layers of the views whose tiles the CPU draws into their CPU work,
/// when those are all a view has after its tiles (no masks, no other layers). Not for the first
/// view when others copy its tiles (`view_copy` reads its buffer after pass 0, before the blurs).
fn cpu_finish(plan: &mut Plan) {
    let donor = plan.dispatches.iter().any(|d| d.kernel == Kernel::ViewCopy);
    for cv in &mut plan.cpu {
        let v = cv.view;
        let mine = |d: &Dispatch| d.view == v;
        if (v == 0 && donor)
            || !plan.dispatches.iter().filter(|d| mine(d)).all(|d| d.pass < 3 && super::cpu_draw::drawable(d.kernel))
        {
            continue;
        }
        let (finish, others): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.dispatches).into_iter().partition(mine);
        plan.dispatches = others;
        cv.finish = finish;
        cv.finish.sort_by_key(|d| d.pass);
    }
}

/// An earlier view whose finished picture is view `v`'s beneath some extra layers (the same
/// background, tiles and blurs, its layers a prefix of `v`'s), and how many layers it already has.
/// Only a view drawn by itself qualifies: a copy's or a masked view's picture is finished later.
fn picture_base(scenes: &[Scene], v: usize) -> Option<(usize, usize)> {
    let s = &scenes[v];
    (0..v).find_map(|u| {
        let b = &scenes[u];
        let same = !b.skip && b.copy_of.is_none() && b.masks.is_empty() && picture_base(scenes, u).is_none();
        let prefix = b.layers.len() <= s.layers.len() && b.layers[..] == s.layers[..b.layers.len()];
        (same
            && prefix
            && b.background == s.background
            && b.under == s.under
            && b.tiles == s.tiles
            && b.blurs == s.blurs)
            .then_some((u, b.layers.len()))
    })
}

fn check_size(gpu: &Gpu, width: u32, height: u32, opts: GpuOptions, views: usize) -> Result<()> {
    if views == 0 {
        return Err(invalid("views", "at least one"));
    }
    crate::media::FrameSize::new(width, height)?;
    let (wx, wy) = opts.workgroup;
    if wx == 0 || wy == 0 || wx * wy > gpu.device.limits().max_compute_invocations_per_workgroup {
        return Err(invalid("workgroup", format!("{wx}x{wy}")));
    }
    Ok(())
}

fn check_scenes(scenes: &[Scene], views: usize) -> Result<()> {
    if scenes.len() != views {
        return Err(invalid("scenes", format!("{} scenes for {views} views", scenes.len())));
    }
    for (v, scene) in scenes.iter().enumerate() {
        if let Some(k) = scene.copy_of {
            if k >= v || scenes[k].copy_of.is_some() || scenes[k].skip {
                return Err(invalid(
                    "scene",
                    format!("view {v} copies view {k}: only an earlier view that is no copy itself"),
                ));
            }
        }
        if scene.tiles.len() > MAX_TILES
            || scene.layers.len() + scene.under.len() > MAX_LAYERS
            || scene.blurs.len() > MAX_BLURS
        {
            return Err(invalid(
                "scene",
                format!("at most {MAX_TILES} tiles, {MAX_LAYERS} layers and {MAX_BLURS} blurs"),
            ));
        }
    }
    Ok(())
}
