//! The uniforms the kernels read, mirrored from shaders/common.wgsl byte for byte (checked against
//! the WGSL by a unit test), with one constructor per kernel family so each field's meaning there
//! is named here.

use bytemuck::{Pod, Zeroable};

use super::scene::MAX_TILES;

/// Bytes between two jobs' uniforms in the job buffer (the device's uniform offset alignment).
pub(super) const JOB_SLOT: u64 = 512;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct TileU {
    pub dst: [f32; 4],
    pub origin: [f32; 2],
    pub axis_x: [f32; 2],
    pub axis_y: [f32; 2],
    pub crop_lo: [f32; 2],
    pub crop_hi: [f32; 2],
    pub cscale: [f32; 2],
    pub m_y: [f32; 4],
    pub m_u: [f32; 4],
    pub m_v: [f32; 4],
    pub y_base: u32,
    pub y_stride: u32,
    pub u_base: u32,
    pub v_base: u32,
    pub c_stride: u32,
    pub c_step: u32,
    pub unit_x: i32,
    pub unit_y: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct LayerU {
    pub rect: [f32; 4],
    pub color: [f32; 4],
    pub img: [u32; 4],
    pub c2: [f32; 4],
    pub c3: [f32; 4],
    pub c4: [f32; 4],
    pub bar: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct BlurU {
    pub rect: [f32; 4],
    pub src: [f32; 4],
    pub factor: u32,
    pub lw: u32,
    pub lh: u32,
    pub radius: u32,
    pub slot: u32,
    pub sigma: f32,
    pub inv_norm: f32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct SceneU {
    pub size: [u32; 2],
    pub n_tiles: u32,
    pub _pad: u32,
    pub background: [f32; 4],
    pub tiles: [TileU; MAX_TILES],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct JobU {
    pub block0: [u32; 2],
    pub blocks: [u32; 2],
    pub list_off: u32,
    pub list_len: u32,
    pub _pad: [u32; 2],
    pub tile: TileU,
    pub layer: LayerU,
    pub blur: BlurU,
}

impl JobU {
    pub fn blocks(block0: [u32; 2], blocks: [u32; 2]) -> JobU {
        JobU { block0, blocks, ..JobU::zeroed() }
    }
}

/// `Layer`'s fields serve each layer kernel differently; these constructors say how.
impl LayerU {
    /// The PK bar: `color` is the left side's outer end, `c2`..`c4` the left inner, right inner and
    /// right outer ends; `bar` holds the split x (pixels), the divider width and the corner radius.
    pub fn bar(rect: [f32; 4], left_outer: [f32; 4], ends: [[f32; 4]; 3], split_divider_radius: [f32; 3]) -> LayerU {
        let [s, d, r] = split_divider_radius;
        LayerU {
            rect,
            color: left_outer,
            c2: ends[0],
            c3: ends[1],
            c4: ends[2],
            bar: [s, d, r, 0.0],
            ..LayerU::zeroed()
        }
    }

    /// A sticker: image `img` (word offset, width, height) drawn at `size` around `centre`, turned
    /// by `angle` radians; `c2` carries the size and `bar` the centre and angle.
    pub fn sticker(rect: [f32; 4], img: [u32; 3], size: [f32; 2], centre: [f32; 2], angle: f32) -> LayerU {
        LayerU {
            rect,
            color: [1.0; 4],
            img: [img[0], img[1], img[2], 0],
            c2: [size[0], size[1], 0.0, 0.0],
            bar: [centre[0], centre[1], angle, 0.0],
            ..LayerU::zeroed()
        }
    }

    /// A mask's soft edge, read by `blur_write_masked` from `bar`: feather and dilation, in pixels.
    pub fn mask_edge(feather: f32, dilate: f32) -> LayerU {
        LayerU { bar: [feather, dilate, 0.0, 0.0], ..LayerU::zeroed() }
    }
}

// The job buffer gives each job `JOB_SLOT` bytes.
const _: () = assert!(std::mem::size_of::<JobU>() as u64 <= JOB_SLOT);

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Each struct the WGSL declares (as compiled: naga's layout): its size and its members' offsets.
    fn wgsl_structs() -> std::collections::HashMap<String, (u32, Vec<(String, u32)>)> {
        let src = super::super::wgsl::module_source("composite", (8, 8));
        let module = naga::front::wgsl::parse_str(&src).expect("the shaders parse");
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).expect("layout");
        let members = |t: &naga::Type| match &t.inner {
            naga::TypeInner::Struct { members, .. } => {
                members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset)).collect()
            }
            _ => Vec::new(),
        };
        module.types.iter().filter_map(|(h, t)| t.name.clone().map(|n| (n, (layouter[h].size, members(t))))).collect()
    }

    /// Checks one struct: its size, and every field's offset against the WGSL member of the same
    /// name (padding fields are named differently on each side and only count in the size).
    fn check(
        structs: &std::collections::HashMap<String, (u32, Vec<(String, u32)>)>,
        name: &str,
        size: usize,
        fields: &[(&str, usize)],
    ) {
        let (wsize, members) = structs.get(name).unwrap_or_else(|| panic!("{name} in the WGSL"));
        assert_eq!(*wsize as usize, size, "{name}: WGSL vs Rust size");
        let named: Vec<&(String, u32)> = members.iter().filter(|(m, _)| !m.starts_with('_')).collect();
        assert_eq!(named.len(), fields.len(), "{name}: fields {members:?}");
        for (field, off) in fields {
            let w = members.iter().find(|(m, _)| m == field).unwrap_or_else(|| panic!("{name}.{field} in the WGSL"));
            assert_eq!(w.1 as usize, *off, "{name}.{field}: WGSL vs Rust offset");
        }
    }

    macro_rules! offsets {
        ($t:ty: $($f:ident),*) => { &[$((stringify!($f), offset_of!($t, $f))),*] };
    }

    #[test]
    fn rust_uniforms_match_the_wgsl_byte_for_byte() {
        let s = wgsl_structs();
        check(
            &s,
            "Tile",
            size_of::<TileU>(),
            offsets!(TileU: dst, origin, axis_x, axis_y, crop_lo, crop_hi, cscale, m_y, m_u, m_v, y_base, y_stride, u_base, v_base, c_stride, c_step, unit_x, unit_y),
        );
        check(&s, "Layer", size_of::<LayerU>(), offsets!(LayerU: rect, color, img, c2, c3, c4, bar));
        check(
            &s,
            "Blur",
            size_of::<BlurU>(),
            offsets!(BlurU: rect, src, factor, lw, lh, radius, slot, sigma, inv_norm),
        );
        check(&s, "SceneU", size_of::<SceneU>(), offsets!(SceneU: size, n_tiles, background, tiles));
        check(&s, "Job", size_of::<JobU>(), offsets!(JobU: block0, blocks, list_off, list_len, tile, layer, blur));
    }
}
