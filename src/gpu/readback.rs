//! Readback: each frame's NV12 buffers are copied into one of several staging buffers and mapped
//! asynchronously, so the CPU collects frame N while the GPU already works on N+1.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::scene::{GpuTimes, Ready};
use super::{buffer, Compositor};
use crate::error::{Error, Result};

pub(super) struct Staging {
    /// One per view, each with its mapping state: 0 idle, 1 mapping requested, 2 mapped, 3 failed.
    pub views: Vec<(wgpu::Buffer, Arc<AtomicU8>)>,
    pub tag: u64,
    pub submission: Option<wgpu::SubmissionIndex>,
    pub timed: bool,
    /// The frame ran blur/layer passes (otherwise their timestamps are stale).
    pub had_blur: bool,
    /// The CPU's share of the frame's drawing (ms): composite, blur (software devices).
    pub cpu_ms: [f64; 2],
    pub had_layers: bool,
}

pub(super) const MAP_PENDING: u8 = 1;
pub(super) const MAP_DONE: u8 = 2;
pub(super) const MAP_FAILED: u8 = 3;
/// An idle view of this frame: nothing was read back, nothing is delivered.
pub(super) const MAP_SKIPPED: u8 = 4;
/// Begin/end timestamps of the tiles, blur and layer passes.
pub(super) const TS_QUERIES: u32 = 6;

impl Staging {
    /// Staging buffers for `views` frames of `nv12_len` bytes each, with room for the timestamps.
    pub fn new(device: &wgpu::Device, i: usize, views: usize, nv12_len: u64) -> Staging {
        let size = ts_offset(nv12_len) + TS_QUERIES as u64 * 8;
        let views = (0..views)
            .map(|v| {
                (
                    buffer(
                        device,
                        &format!("staging {i}.{v}"),
                        size,
                        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    ),
                    Arc::new(AtomicU8::new(0)),
                )
            })
            .collect();
        Staging { views, tag: 0, submission: None, timed: false, had_blur: false, had_layers: false, cpu_ms: [0.0; 2] }
    }

    fn pending(&self) -> bool {
        self.views.iter().any(|(_, s)| s.load(Ordering::Acquire) == MAP_PENDING)
    }
}

/// Where the timestamps sit in view 0's staging buffer: after the frame, 256-byte aligned.
pub(super) fn ts_offset(nv12_len: u64) -> u64 {
    nv12_len.div_ceil(256) * 256
}

impl Compositor {
    /// Waits for and hands over all frames still in flight (end of stream).
    pub fn flush(&mut self, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.deliver_one(true, on_ready)?;
        }
        Ok(())
    }

    /// Hands over whatever is already finished without blocking.
    pub(super) fn deliver_ready(&mut self, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        let _ = self.gpu.device.poll(wgpu::PollType::Poll);
        while let Some(&front) = self.in_flight.front() {
            if self.staging[front].pending() {
                break;
            }
            self.deliver_one(false, on_ready)?;
        }
        Ok(())
    }

    pub(super) fn deliver_one(&mut self, block: bool, on_ready: &mut dyn FnMut(Ready<'_>) -> Result<()>) -> Result<()> {
        let Some(idx) = self.in_flight.pop_front() else { return Ok(()) };
        let t0 = Instant::now();
        let st = &self.staging[idx];
        if block && st.pending() {
            let sub = st.submission.clone();
            self.gpu
                .device
                .poll(wgpu::PollType::Wait { submission_index: sub, timeout: None })
                .map_err(|e| Error::Readback(e.to_string()))?;
        }
        let st = &mut self.staging[idx];
        st.submission = None;
        let wait_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut gpu = None;
        let mut result = Ok(());
        for (view, (buf, state)) in st.views.iter().enumerate() {
            let s = state.load(Ordering::Acquire);
            if s == MAP_SKIPPED {
                state.store(0, Ordering::Release);
                continue;
            }
            if s != MAP_DONE {
                state.store(0, Ordering::Release);
                if result.is_ok() {
                    result = Err(Error::Readback(format!("staging buffer {idx}.{view} did not map (state {s})")));
                }
                continue;
            }
            if result.is_ok() {
                let r = (|| {
                    let data = buf.get_mapped_range(..).map_err(|e| Error::Readback(e.to_string()))?;
                    if view == 0 && st.timed {
                        let off = ts_offset(self.nv12_len) as usize;
                        let ts: Vec<u64> = bytemuck::pod_collect_to_vec(&data[off..off + TS_QUERIES as usize * 8]);
                        let period = self.gpu.queue.get_timestamp_period() as f64 / 1e6;
                        let span = |a: u64, b: u64| if b > a { (b - a) as f64 * period } else { 0.0 };
                        let layers = if st.had_layers { span(ts[4], ts[5]) } else { 0.0 };
                        let blur = if st.had_blur { span(ts[2], ts[3]) } else { 0.0 };
                        gpu = Some(GpuTimes {
                            blur_ms: blur + st.cpu_ms[1],
                            composite_ms: span(ts[0], ts[1]) + layers + st.cpu_ms[0],
                        });
                    }
                    on_ready(Ready { view, tag: st.tag, nv12: &data[..self.nv12_len as usize], gpu, wait_ms })
                })();
                result = r;
            }
            buf.unmap();
            state.store(0, Ordering::Release);
        }
        result
    }
}
