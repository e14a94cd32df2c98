// Video tiles into the NV12 output. Four jobs:
// - `tile_copy`: a BT.709 limited-range 4:2:0 tile at 1:1, offset a multiple of 4: the bytes are
//   already the output's, so luma words are copied and chroma bytes interleaved, with no arithmetic.
// - `tile_unit`: a tile shown at 1:1 with an even offset (the common co-stream case): per block, two
//   luma words and one chroma word are read, put through the tile's colour matrix and written.
// - `tile_axis`: a scaled tile that is not rotated: taps shared along rows and columns, chroma
//   once per 2x2.
// - `tile_scaled`: any other tile (rotated): bilinear per pixel.
// - `view_copy`: blocks the first view drew from the same tile at the same scale, moved by whole
//   blocks (a mirrored PK view shows both anchors' tiles too): its words, copied.
// - `edges`: blocks where tiles or the background meet inside one block, listed by the CPU; every
//   pixel picks its topmost tile; pixels outside every tile keep what is beneath.
// `fill` paints the background where no tile covers; layers under the video come between the two.

KERNEL(fill) {
    let bg = scene.background;
    var b: Block;
    b.y0 = vec4<f32>(bg.x);
    b.y1 = b.y0;
    b.c = vec4<f32>(bg.y, bg.z, bg.y, bg.z);
    store_block(bx, by, b);
}

// Each invocation copies COPY_RUN blocks of one row: per-invocation overhead is the larger cost on a
// software device.
const COPY_RUN: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn tile_copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x * COPY_RUN >= job.blocks.x || gid.y >= job.blocks.y) {
        return;
    }
    let t = job.tile;
    let by = job.block0.y + gid.y;
    let sy = u32(i32(by * 2u) + t.unit_y);
    let ys = t.y_stride >> 2u;
    let crow = (sy / 2u) * t.c_stride;
    let n = min(COPY_RUN, job.blocks.x - gid.x * COPY_RUN);
    let row0 = luma_index(0u, by * 2u);
    let row1 = row0 + words_per_row();
    let crow_out = chroma_index(0u, by);
    for (var k = 0u; k < n; k++) {
        let bx = job.block0.x + gid.x * COPY_RUN + k;
        let sx = u32(i32(bx * 4u) + t.unit_x);
        let yi = (t.y_base + sy * t.y_stride + sx) >> 2u;
        nv12[row0 + bx] = planes[yi];
        nv12[row1 + bx] = planes[yi + ys];
        // Two chroma samples of each plane (planar) or two UV pairs (NV12, c_step 2) for this block.
        let uo = t.u_base + crow + (sx / 2u) * t.c_step;
        let vo = t.v_base + crow + (sx / 2u) * t.c_step;
        let uw = planes[uo >> 2u] >> ((uo & 3u) * 8u);
        let vw = planes[vo >> 2u] >> ((vo & 3u) * 8u);
        let planar = (uw & 0xffu) | ((vw & 0xffu) << 8u) | ((uw & 0xff00u) << 8u) | ((vw & 0xff00u) << 16u);
        nv12[crow_out + bx] = select(planar, planes[uo >> 2u], t.c_step == 2u);
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn view_copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x * COPY_RUN >= job.blocks.x || gid.y >= job.blocks.y) {
        return;
    }
    // unit_x, unit_y: where the blocks are in the first view, relative to here (in blocks).
    let by = job.block0.y + gid.y;
    let sby = u32(i32(by) + job.tile.unit_y);
    let wpr = words_per_row();
    let n = min(COPY_RUN, job.blocks.x - gid.x * COPY_RUN);
    let row0 = luma_index(0u, by * 2u);
    let src0 = luma_index(0u, sby * 2u);
    let c_out = chroma_index(0u, by);
    let c_src = chroma_index(0u, sby);
    for (var k = 0u; k < n; k++) {
        let bx = job.block0.x + gid.x * COPY_RUN + k;
        let sbx = u32(i32(bx) + job.tile.unit_x);
        nv12[row0 + bx] = donor[src0 + sbx];
        nv12[row0 + wpr + bx] = donor[src0 + wpr + sbx];
        nv12[c_out + bx] = donor[c_src + sbx];
    }
}

// A block from its two source luma rows and one source chroma sample per 2x2 (0..1): output
// chroma of a 2x2 = the matrix applied to its mean luma and its chroma (all affine).
fn block_420(t: Tile, yr0: vec4<f32>, yr1: vec4<f32>, a0: vec2<f32>, a1: vec2<f32>) -> Block {
    let m0 = (yr0.x + yr0.y + yr1.x + yr1.y) * 0.25;
    let m1 = (yr0.z + yr0.w + yr1.z + yr1.w) * 0.25;
    var b: Block;
    b.c = vec4<f32>(
        dot(t.m_u.xyz, vec3<f32>(m0, a0)) + t.m_u.w,
        dot(t.m_v.xyz, vec3<f32>(m0, a0)) + t.m_v.w,
        dot(t.m_u.xyz, vec3<f32>(m1, a1)) + t.m_u.w,
        dot(t.m_v.xyz, vec3<f32>(m1, a1)) + t.m_v.w,
    );
    let k0 = dot(t.m_y.yz, a0) + t.m_y.w;
    let k1 = dot(t.m_y.yz, a1) + t.m_y.w;
    let k = vec4<f32>(k0, k0, k1, k1);
    b.y0 = yr0 * t.m_y.x + k;
    b.y1 = yr1 * t.m_y.x + k;
    return b;
}

KERNEL(tile_unit) {
    let t = job.tile;
    let sx = u32(i32(bx * 4u) + t.unit_x);
    let sy = u32(i32(by * 2u) + t.unit_y);
    let yr0 = unpack4x8unorm(word_at(t.y_base + sy * t.y_stride + sx));
    let yr1 = unpack4x8unorm(word_at(t.y_base + (sy + 1u) * t.y_stride + sx));
    // One chroma sample per 2x2 (4:2:0 at an even offset: exactly the source's own sample).
    let cx = u32(f32(sx) * t.cscale.x);
    let cx1 = u32(f32(sx + 2u) * t.cscale.x);
    let cy = u32(f32(sy) * t.cscale.y);
    let crow = cy * t.c_stride;
    let a0 = vec2<f32>(f32(byte_at(t.u_base + crow + cx * t.c_step)), f32(byte_at(t.v_base + crow + cx * t.c_step))) * (1.0 / 255.0);
    let a1 = vec2<f32>(f32(byte_at(t.u_base + crow + cx1 * t.c_step)), f32(byte_at(t.v_base + crow + cx1 * t.c_step))) * (1.0 / 255.0);
    store_block(bx, by, block_420(t, yr0, yr1, a0, a1));
}

fn block_from_pixels(p00: vec3<f32>, p10: vec3<f32>, p20: vec3<f32>, p30: vec3<f32>, p01: vec3<f32>, p11: vec3<f32>, p21: vec3<f32>, p31: vec3<f32>) -> Block {
    var b: Block;
    b.y0 = vec4<f32>(p00.x, p10.x, p20.x, p30.x);
    b.y1 = vec4<f32>(p01.x, p11.x, p21.x, p31.x);
    let c0 = (p00.yz + p10.yz + p01.yz + p11.yz) * 0.25;
    let c1 = (p20.yz + p30.yz + p21.yz + p31.yz) * 0.25;
    b.c = vec4<f32>(c0, c1);
    return b;
}

KERNEL(tile_scaled) {
    let t = job.tile;
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    store_block(bx, by, block_from_pixels(
        tile_sample(t, p), tile_sample(t, p + vec2<f32>(1.0, 0.0)), tile_sample(t, p + vec2<f32>(2.0, 0.0)), tile_sample(t, p + vec2<f32>(3.0, 0.0)),
        tile_sample(t, p + vec2<f32>(0.0, 1.0)), tile_sample(t, p + vec2<f32>(1.0, 1.0)), tile_sample(t, p + vec2<f32>(2.0, 1.0)), tile_sample(t, p + vec2<f32>(3.0, 1.0)),
    ));
}

// Luma taps of one row of a block of an axis-aligned tile: bilinear along x at the four columns'
// source positions `xs` (already clamped, texel centres at 0), between source rows r0 and r1.
fn luma_row(t: Tile, xs: vec4<f32>, r0: u32, r1: u32, fy: f32) -> vec4<f32> {
    let last = u32(max(t.crop_hi.x - 1.0, 0.0));
    let i0 = vec4<u32>(floor(xs));
    let i1 = min(i0 + vec4<u32>(1u), vec4<u32>(last));
    let fx = fract(xs);
    let b0 = t.y_base + r0 * t.y_stride;
    let b1 = t.y_base + r1 * t.y_stride;
    let a = vec4<f32>(f32(byte_at(b0 + i0.x)), f32(byte_at(b0 + i0.y)), f32(byte_at(b0 + i0.z)), f32(byte_at(b0 + i0.w)));
    let b = vec4<f32>(f32(byte_at(b0 + i1.x)), f32(byte_at(b0 + i1.y)), f32(byte_at(b0 + i1.z)), f32(byte_at(b0 + i1.w)));
    let c = vec4<f32>(f32(byte_at(b1 + i0.x)), f32(byte_at(b1 + i0.y)), f32(byte_at(b1 + i0.z)), f32(byte_at(b1 + i0.w)));
    let d = vec4<f32>(f32(byte_at(b1 + i1.x)), f32(byte_at(b1 + i1.y)), f32(byte_at(b1 + i1.z)), f32(byte_at(b1 + i1.w)));
    return mix(mix(a, b, fx), mix(c, d, fx), fy) * (1.0 / 255.0);
}

// Source luma row taps (r0, r1) and weight of output row centre y of an axis-aligned tile.
fn luma_rows(t: Tile, y: f32) -> vec3<f32> {
    let s = clamp(t.origin.y + t.axis_y.y * y, t.crop_lo.y + 0.5, t.crop_hi.y - 0.5) - 0.5;
    let r0 = floor(s);
    return vec3<f32>(r0, min(r0 + 1.0, max(t.crop_hi.y - 1.0, 0.0)), s - r0);
}

// A scaled tile that is not rotated (the usual case: a 640x360 anchor filling a 640x720 cell):
// columns share their x taps and rows their y taps, and chroma is sampled once per 2x2 at its
// centre, like `tile_unit` (a third of `tile_scaled`'s loads).
KERNEL(tile_axis) {
    let t = job.tile;
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    let xs = clamp(t.origin.x + t.axis_x.x * (vec4<f32>(p.x) + vec4<f32>(0.0, 1.0, 2.0, 3.0)), vec4<f32>(t.crop_lo.x + 0.5), vec4<f32>(t.crop_hi.x - 0.5)) - vec4<f32>(0.5);
    let ra = luma_rows(t, p.y);
    let rb = luma_rows(t, p.y + 1.0);
    let yr0 = luma_row(t, xs, u32(ra.x), u32(ra.y), ra.z);
    let yr1 = luma_row(t, xs, u32(rb.x), u32(rb.y), rb.z);
    // Chroma at the centre of each 2x2 (the output's own chroma sample position).
    let half = vec2<f32>(0.5);
    let clo = t.crop_lo * t.cscale + half;
    let chi = t.crop_hi * t.cscale - half;
    let s0 = (t.origin + vec2<f32>(t.axis_x.x * (p.x + 0.5), t.axis_y.y * (p.y + 0.5))) * t.cscale;
    let s1 = (t.origin + vec2<f32>(t.axis_x.x * (p.x + 2.5), t.axis_y.y * (p.y + 0.5))) * t.cscale;
    let a0 = vec2<f32>(bilinear(t.u_base, t.c_stride, t.c_step, s0, clo, chi), bilinear(t.v_base, t.c_stride, t.c_step, s0, clo, chi));
    let a1 = vec2<f32>(bilinear(t.u_base, t.c_stride, t.c_step, s1, clo, chi), bilinear(t.v_base, t.c_stride, t.c_step, s1, clo, chi));
    store_block(bx, by, block_420(t, yr0, yr1, a0, a1));
}

fn inside(p: vec2<f32>, r: vec4<f32>) -> bool {
    return p.x >= r.x && p.x < r.z && p.y >= r.y && p.y < r.w;
}

// Topmost tile at p (rgb = output YUV) and whether one covers p (a = 0 or 1).
fn video_at(p: vec2<f32>) -> vec4<f32> {
    var top = -1;
    for (var i = 0u; i < scene.n_tiles; i++) {
        if (inside(p, scene.tiles[i].dst)) {
            top = i32(i);
        }
    }
    if (top < 0) {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(tile_sample(scene.tiles[u32(top)], p), 1.0);
}

@compute @workgroup_size(64, 1, 1)
fn edges(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= job.list_len) {
        return;
    }
    let packed = block_list[job.list_off + gid.x];
    let bx = packed & 0xffffu;
    let by = packed >> 16u;
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    // Pixels no tile covers keep what is beneath (the background and the layers under the video).
    SAMPLE8(q, video_at(#));
    BLEND8_ALPHA(q, load_block(bx, by));
}
