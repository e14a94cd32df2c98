//! The image atlas: every image layer's pixels (overlay images, rasterised text, the sticker) in one
//! storage buffer, each with a version so dirty-region reuse redraws a layer whose image changed.

use super::storage;
use super::Compositor;
use crate::error::{invalid, Result};

impl Compositor {
    /// Uploads the images used by image layers (fixed elements: uploaded once, sampled every frame).
    pub fn set_images(&mut self, images: &[image::RgbaImage]) -> Result<()> {
        let words: usize = images.iter().map(|i| (i.width() * i.height()) as usize).sum();
        let max = self.gpu.device.limits().max_storage_buffer_binding_size as usize;
        if words * 4 > max {
            return Err(invalid("images", format!("{} bytes of images exceed the device limit {max}", words * 4)));
        }
        let mut data = Vec::with_capacity(words * 4);
        self.images.clear();
        for img in images {
            self.images.push(((data.len() / 4) as u32, img.width(), img.height()));
            data.extend_from_slice(img.as_raw());
        }
        self.images_buf = storage(&self.gpu.device, "images", data.len() as u64);
        if !data.is_empty() {
            self.gpu.queue.write_buffer(&self.images_buf, 0, &data);
        }
        self.image_data = images.to_vec();
        let next = self.image_vers.iter().copied().max().unwrap_or(0) + 1;
        self.image_vers = vec![next; images.len()];
        self.invalidate_groups();
        Ok(())
    }

    /// Replaces image `i` (text that changed, say), or appends it when `i` is the next index. An image
    /// of the same size is written in place; another size rebuilds the image buffer.
    pub fn set_image(&mut self, i: usize, img: &image::RgbaImage) -> Result<()> {
        match self.images.get(i) {
            Some(&(off, w, h)) if w == img.width() && h == img.height() => {
                if self.image_data[i].as_raw() != img.as_raw() {
                    self.gpu.queue.write_buffer(&self.images_buf, off as u64 * 4, img.as_raw());
                    self.image_data[i] = img.clone();
                    self.image_vers[i] = self.image_vers.iter().copied().max().unwrap_or(0) + 1;
                }
                Ok(())
            }
            _ if i <= self.images.len() => {
                let mut all = std::mem::take(&mut self.image_data);
                if i == all.len() {
                    all.push(img.clone());
                } else {
                    all[i] = img.clone();
                }
                let vers = std::mem::take(&mut self.image_vers);
                self.set_images(&all)?;
                // Unchanged images keep their versions: they need no redraw.
                for (j, v) in vers.iter().enumerate() {
                    if j != i && j < self.image_vers.len() {
                        self.image_vers[j] = *v;
                    }
                }
                Ok(())
            }
            _ => Err(invalid("image", format!("index {i} past the {} images", self.images.len()))),
        }
    }

    pub fn image_count(&self) -> usize {
        self.images.len()
    }
}
