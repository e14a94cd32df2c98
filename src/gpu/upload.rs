//! Input upload: decoded planes go into one storage buffer as the decoder left them (with their
//! strides), no CPU conversion; lavapipe has no texture arrays and the shaders read bytes directly,
//! so any number of inputs costs the same bindings. A geometry change rebuilds the buffer.

use super::planner::SlotInfo;
use super::storage;
use super::Compositor;
use crate::error::{invalid, Result};
use crate::media::{Picture, PlaneLayout};

impl Compositor {
    /// True when the slot's planes must be (re)uploaded even if its picture did not change, because the
    /// plane buffer was rebuilt.
    pub fn needs_upload(&self, slot: usize) -> bool {
        self.needs_upload.get(slot).copied().unwrap_or(true)
    }

    /// Lays the slots out in a new plane buffer; every slot must upload again afterwards.
    fn relayout(&mut self) -> Result<()> {
        let mut off = 0u32;
        for s in self.slots.iter_mut().flatten() {
            let bytes = s.plane_bytes();
            for (i, b) in bytes.iter().enumerate() {
                s.base[i] = off;
                off += b.next_multiple_of(4);
            }
        }
        let size = off as u64 + 16;
        let max = self.gpu.device.limits().max_storage_buffer_binding_size as u64;
        if size > max {
            return Err(invalid(
                "inputs",
                format!("inputs need {size} bytes of plane storage, over the device limit {max}"),
            ));
        }
        self.planes_buf = storage(&self.gpu.device, "planes", size);
        if self.cpu_draw() {
            self.host_planes = vec![0; size as usize];
        }
        for n in self.needs_upload.iter_mut() {
            *n = true;
        }
        self.invalidate_groups();
        tracing::debug!(bytes = size, "input plane buffer rebuilt");
        Ok(())
    }

    /// Uploads a decoded picture into input slot `slot`: the decoder's planes as they are, no CPU
    /// conversion. Geometry changes (first frame, resolution switch) rebuild the plane buffer.
    pub fn upload(&mut self, slot: usize, pic: &Picture) -> Result<()> {
        if pic.width == 0 || pic.height == 0 {
            return Err(invalid("picture", "empty picture"));
        }
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
            self.slot_gens.resize(slot + 1, 0);
            self.needs_upload.resize(slot + 1, true);
        }
        let strides = [pic.strides[0] as u32, pic.strides[1] as u32, pic.strides[2] as u32];
        let mut info = SlotInfo {
            layout: pic.layout,
            width: pic.width,
            height: pic.height,
            strides,
            matrix: pic.matrix,
            full_range: pic.full_range,
            base: [0; 3],
        };
        let (cw, ch) = info.chroma_size();
        let need =
            |stride: u32, w: u32, h: u32, data: &[u8]| stride >= w && data.len() >= (stride * (h - 1) + w) as usize;
        let ok = need(strides[0], pic.width, pic.height, pic.planes[0])
            && match pic.layout {
                PlaneLayout::Planar { .. } => {
                    need(strides[1], cw, ch, pic.planes[1]) && need(strides[2], cw, ch, pic.planes[2])
                }
                PlaneLayout::Nv12 => need(strides[1], cw * 2, ch, pic.planes[1]),
            };
        if !ok {
            return Err(invalid(
                "picture",
                format!("planes too small for {}x{} with strides {strides:?}", pic.width, pic.height),
            ));
        }
        let same = matches!(self.slots[slot], Some(s) if s.layout == info.layout && s.width == info.width && s.height == info.height && s.strides == info.strides);
        if same {
            if let Some(s) = self.slots[slot] {
                info.base = s.base;
            }
            self.slots[slot] = Some(info);
        } else {
            self.slots[slot] = Some(info);
            self.relayout()?;
            info = self.slots[slot].ok_or_else(|| invalid("slot", "missing"))?;
        }
        let bytes = info.plane_bytes();
        let n = if pic.layout == PlaneLayout::Nv12 { 2 } else { 3 };
        for i in 0..n {
            let len = bytes[i] as usize;
            let data = pic.planes[i];
            if !self.host_planes.is_empty() {
                // Software device: the planes go to the GPU at render time, and only when a kernel
                // reads them (the CPU draws tiles from here).
                let (b, n) = (info.base[i] as usize, data.len().min(len));
                self.host_planes[b..b + n].copy_from_slice(&data[..n]);
                self.planes_stale = true;
            } else if data.len() >= len && len % 4 == 0 {
                self.gpu.queue.write_buffer(&self.planes_buf, info.base[i] as u64, &data[..len]);
            } else {
                // The last row may be short of a full stride, or the plane not a multiple of 4 bytes.
                let mut v = data[..data.len().min(len)].to_vec();
                v.resize(len.next_multiple_of(4), 0);
                self.gpu.queue.write_buffer(&self.planes_buf, info.base[i] as u64, &v);
            }
        }
        self.needs_upload[slot] = false;
        self.slot_gens[slot] += 1;
        Ok(())
    }
}
