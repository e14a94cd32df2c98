// Gaussian blur of a rectangle of the composed NV12 frame.
//
// The blur runs at 1/factor resolution (sigma/factor), which makes a sigma-12 blur ~16x cheaper and is
// visually identical: a wide Gaussian has no detail that the lower resolution could lose. Four jobs:
// `blur_prep` averages factor x factor pixels of the neighbourhood into the low-resolution grid,
// `blur_h` and `blur_v` apply the separable kernel (edges clamp, i.e. the frame edge is extended), and
// `blur_write` writes the bilinear-upsampled result into the blocks of the rectangle only — pixels of
// a block that lie outside the rectangle keep their value.

fn nv12_byte(off: u32) -> f32 {
    return f32((nv12[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu);
}

fn nv12_yuv(x: u32, y: u32) -> vec3<f32> {
    let w = scene.size.x;
    let c = w * scene.size.y + (y / 2u) * w + (x / 2u) * 2u;
    return vec3<f32>(nv12_byte(y * w + x), nv12_byte(c), nv12_byte(c + 1u));
}

// One low-resolution texel: the mean of the 2x2 pixels at the centre of its factor x factor cell
// (for factor 2, the whole cell). The Gaussian that follows removes what this leaves out, at a
// quarter of the loads of a full box for factor 4.
@compute @workgroup_size(8, 8, 1)
fn blur_prep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bl = job.blur;
    if (gid.x >= bl.lw || gid.y >= bl.lh) {
        return;
    }
    let off = (bl.factor - 1u) / 2u;
    let x = min(u32(bl.src.x) + gid.x * bl.factor + off, u32(bl.src.z) - 2u);
    let y = min(u32(bl.src.y) + gid.y * bl.factor + off, u32(bl.src.w) - 2u);
    let acc = nv12_yuv(x, y) + nv12_yuv(x + 1u, y) + nv12_yuv(x, y + 1u) + nv12_yuv(x + 1u, y + 1u);
    scratch_a[bl.slot + gid.y * bl.lw + gid.x] = vec4<f32>(acc * 0.25, 1.0);
}

// Gaussian tap k, computed rather than loaded: arithmetic is cheap on a SIMD CPU, loads are not.
fn weight(bl: Blur, k: u32) -> f32 {
    let x = f32(k);
    return exp(-x * x / (2.0 * bl.sigma * bl.sigma)) * bl.inv_norm;
}

@compute @workgroup_size(8, 8, 1)
fn blur_h(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bl = job.blur;
    if (gid.x >= bl.lw || gid.y >= bl.lh) {
        return;
    }
    let row = bl.slot + gid.y * bl.lw;
    let r = i32(bl.radius);
    let x = i32(gid.x);
    let last = i32(bl.lw) - 1;
    var acc = scratch_a[row + gid.x] * weight(bl, 0u);
    for (var k = 1; k <= r; k++) {
        let w = weight(bl, u32(k));
        acc += (scratch_a[row + u32(clamp(x - k, 0, last))] + scratch_a[row + u32(clamp(x + k, 0, last))]) * w;
    }
    scratch_b[row + gid.x] = acc;
}

@compute @workgroup_size(8, 8, 1)
fn blur_v(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bl = job.blur;
    if (gid.x >= bl.lw || gid.y >= bl.lh) {
        return;
    }
    let r = i32(bl.radius);
    let y = i32(gid.y);
    let last = i32(bl.lh) - 1;
    var acc = scratch_b[bl.slot + gid.y * bl.lw + gid.x] * weight(bl, 0u);
    for (var k = 1; k <= r; k++) {
        let w = weight(bl, u32(k));
        let a = bl.slot + u32(clamp(y - k, 0, last)) * bl.lw + gid.x;
        let b = bl.slot + u32(clamp(y + k, 0, last)) * bl.lw + gid.x;
        acc += (scratch_b[a] + scratch_b[b]) * w;
    }
    scratch_a[bl.slot + gid.y * bl.lw + gid.x] = acc;
}

// Blurred output YUV at pixel centre p (bilinear from the low-resolution grid).
fn blurred_at(bl: Blur, p: vec2<f32>) -> vec3<f32> {
    let g = clamp((p - bl.src.xy) / f32(bl.factor) - vec2<f32>(0.5), vec2<f32>(0.0), vec2<f32>(f32(bl.lw - 1u), f32(bl.lh - 1u)));
    let i0 = vec2<u32>(floor(g));
    let i1 = min(i0 + vec2<u32>(1u), vec2<u32>(bl.lw - 1u, bl.lh - 1u));
    let f = fract(g);
    let a = scratch_a[bl.slot + i0.y * bl.lw + i0.x].xyz;
    let b = scratch_a[bl.slot + i0.y * bl.lw + i1.x].xyz;
    let c = scratch_a[bl.slot + i1.y * bl.lw + i0.x].xyz;
    let d = scratch_a[bl.slot + i1.y * bl.lw + i1.x].xyz;
    return mix(mix(a, b, f.x), mix(c, d, f.x), f.y);
}

KERNEL(blur_write) {
    let bl = job.blur;
    let b = load_block(bx, by);
    let x0 = f32(bx * 4u);
    let y0 = f32(by * 2u);
    let k0 = row_cover(bl.rect, x0, y0);
    let k1 = row_cover(bl.rect, x0, y0 + 1.0);
    let p = vec2<f32>(x0, y0) + vec2<f32>(0.5);
    SAMPLE8(q, blurred_at(bl, #));
    BLEND8(q, b, k0, k1);
}

fn grid(bl: Blur, x: i32, y: i32) -> vec3<f32> {
    let cx = u32(clamp(x, 0, i32(bl.lw) - 1));
    let cy = u32(clamp(y, 0, i32(bl.lh) - 1));
    return scratch_a[bl.slot + cy * bl.lw + cx].xyz;
}

// Bilinear between columns a, b, c by integer offset i (0 or 1) and fraction f.
fn pick(a: vec3<f32>, b: vec3<f32>, c: vec3<f32>, i: i32, f: f32) -> vec3<f32> {
    return mix(select(a, b, i == 1), select(b, c, i == 1), f);
}

// blur_write for factor >= 2: the 4x2 pixels of a block fall within a 3x3 patch of the grid, so
// the block loads 9 texels instead of 32 and interpolates in registers.
KERNEL(blur_write_lowres) {
    let bl = job.blur;
    let b = load_block(bx, by);
    let x0 = f32(bx * 4u);
    let y0 = f32(by * 2u);
    let k0 = row_cover(bl.rect, x0, y0);
    let k1 = row_cover(bl.rect, x0, y0 + 1.0);
    let inv = 1.0 / f32(bl.factor);
    // Grid coordinates of the four columns and two rows of pixel centres.
    let gx = (vec4<f32>(x0, x0 + 1.0, x0 + 2.0, x0 + 3.0) + vec4<f32>(0.5) - vec4<f32>(bl.src.x)) * inv - vec4<f32>(0.5);
    let gy = (vec2<f32>(y0, y0 + 1.0) + vec2<f32>(0.5) - vec2<f32>(bl.src.y)) * inv - vec2<f32>(0.5);
    let lim = vec2<f32>(f32(bl.lw - 1u), f32(bl.lh - 1u));
    let cgx = clamp(gx, vec4<f32>(0.0), vec4<f32>(lim.x));
    let cgy = clamp(gy, vec2<f32>(0.0), vec2<f32>(lim.y));
    let ox = i32(floor(cgx.x));
    let oy = i32(floor(cgy.x));
    let ix = vec4<i32>(floor(cgx)) - vec4<i32>(ox);
    let iy = vec2<i32>(floor(cgy)) - vec2<i32>(oy);
    let fx = fract(cgx);
    let fy = fract(cgy);
    let r0a = grid(bl, ox, oy); let r0b = grid(bl, ox + 1, oy); let r0c = grid(bl, ox + 2, oy);
    let r1a = grid(bl, ox, oy + 1); let r1b = grid(bl, ox + 1, oy + 1); let r1c = grid(bl, ox + 2, oy + 1);
    let r2a = grid(bl, ox, oy + 2); let r2b = grid(bl, ox + 1, oy + 2); let r2c = grid(bl, ox + 2, oy + 2);
    // Each of the three grid rows interpolated at the four pixel columns.
    let h0 = array<vec3<f32>, 4>(pick(r0a, r0b, r0c, ix.x, fx.x), pick(r0a, r0b, r0c, ix.y, fx.y), pick(r0a, r0b, r0c, ix.z, fx.z), pick(r0a, r0b, r0c, ix.w, fx.w));
    let h1 = array<vec3<f32>, 4>(pick(r1a, r1b, r1c, ix.x, fx.x), pick(r1a, r1b, r1c, ix.y, fx.y), pick(r1a, r1b, r1c, ix.z, fx.z), pick(r1a, r1b, r1c, ix.w, fx.w));
    let h2 = array<vec3<f32>, 4>(pick(r2a, r2b, r2c, ix.x, fx.x), pick(r2a, r2b, r2c, ix.y, fx.y), pick(r2a, r2b, r2c, ix.z, fx.z), pick(r2a, r2b, r2c, ix.w, fx.w));
    let q00 = pick(h0[0], h1[0], h2[0], iy.x, fy.x);
    let q10 = pick(h0[1], h1[1], h2[1], iy.x, fy.x);
    let q20 = pick(h0[2], h1[2], h2[2], iy.x, fy.x);
    let q30 = pick(h0[3], h1[3], h2[3], iy.x, fy.x);
    let q01 = pick(h0[0], h1[0], h2[0], iy.y, fy.y);
    let q11 = pick(h0[1], h1[1], h2[1], iy.y, fy.y);
    let q21 = pick(h0[2], h1[2], h2[2], iy.y, fy.y);
    let q31 = pick(h0[3], h1[3], h2[3], iy.y, fy.y);
    BLEND8(q, b, k0, k1);
}

// Soft coverage (0..1) of pixel centre p by the job's polygons (face organs), listed in `block_list`
// from `list_off`: the polygon count, then per polygon its vertex count and x, y pairs (f32 bits).
// 1 inside, 0 outside, a ramp `feather` pixels wide across the outline, which is pushed outwards by
// `dilate` pixels (a held mask grows a little while the face is not seen).
fn mask_cover(p: vec2<f32>) -> f32 {
    var off = job.list_off;
    let polys = block_list[off];
    off += 1u;
    var inside = false;
    var d = 1e9;
    for (var k = 0u; k < polys; k++) {
        let n = block_list[off];
        off += 1u;
        var prev = vec2<f32>(bitcast<f32>(block_list[off + 2u * (n - 1u)]), bitcast<f32>(block_list[off + 2u * (n - 1u) + 1u]));
        var odd = false;
        for (var i = 0u; i < n; i++) {
            let a = vec2<f32>(bitcast<f32>(block_list[off + 2u * i]), bitcast<f32>(block_list[off + 2u * i + 1u]));
            if ((a.y > p.y) != (prev.y > p.y) && p.x < (prev.x - a.x) * (p.y - a.y) / (prev.y - a.y) + a.x) {
                odd = !odd;
            }
            let e = prev - a;
            let t = clamp(dot(p - a, e) / max(dot(e, e), 1e-6), 0.0, 1.0);
            d = min(d, length(p - (a + e * t)));
            prev = a;
        }
        inside = inside || odd;
        off += 2u * n;
    }
    let f = max(job.layer.bar.x, 0.5);
    return smoothstep(-f, f, select(-d, d, inside) + job.layer.bar.y);
}

// blur_write restricted to the mask: each pixel gets the blurred value in proportion to its
// coverage, so the blur has soft edges and nothing outside the mask changes, nor anything outside
// the job's rectangle (the mask's bounds within its face's tile).
KERNEL(blur_write_masked) {
    let bl = job.blur;
    let b = load_block(bx, by);
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    let k0 = row_cover(bl.rect, p.x - 0.5, p.y - 0.5) * vec4<f32>(mask_cover(p), mask_cover(p + vec2<f32>(1.0, 0.0)), mask_cover(p + vec2<f32>(2.0, 0.0)), mask_cover(p + vec2<f32>(3.0, 0.0)));
    let k1 = row_cover(bl.rect, p.x - 0.5, p.y + 0.5) * vec4<f32>(mask_cover(p + vec2<f32>(0.0, 1.0)), mask_cover(p + vec2<f32>(1.0, 1.0)), mask_cover(p + vec2<f32>(2.0, 1.0)), mask_cover(p + vec2<f32>(3.0, 1.0)));
    SAMPLE8(q, blurred_at(bl, #));
    BLEND8(q, b, k0, k1);
}
