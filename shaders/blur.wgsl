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

@compute @workgroup_size(8, 8, 1)
fn blur_prep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bl = scene.blurs[job.index];
    if (gid.x >= bl.lw || gid.y >= bl.lh) {
        return;
    }
    let w = scene.size.x;
    let x0 = u32(bl.src.x) + gid.x * bl.factor;
    let y0 = u32(bl.src.y) + gid.y * bl.factor;
    let xmax = u32(bl.src.z) - 1u;
    let ymax = u32(bl.src.w) - 1u;
    var acc = vec3<f32>(0.0);
    for (var dy = 0u; dy < bl.factor; dy++) {
        for (var dx = 0u; dx < bl.factor; dx++) {
            let x = min(x0 + dx, xmax);
            let y = min(y0 + dy, ymax);
            let c = w * scene.size.y + (y / 2u) * w + (x / 2u) * 2u;
            acc += vec3<f32>(nv12_byte(y * w + x), nv12_byte(c), nv12_byte(c + 1u));
        }
    }
    let n = f32(bl.factor * bl.factor);
    scratch_a[bl.slot + gid.y * bl.lw + gid.x] = vec4<f32>(acc / n, 1.0);
}

fn weight(bl: Blur, k: u32) -> f32 {
    let i = bl.weight_off + k;
    return scene.weights[i / 4u][i % 4u];
}

@compute @workgroup_size(8, 8, 1)
fn blur_h(@builtin(global_invocation_id) gid: vec3<u32>) {
    let bl = scene.blurs[job.index];
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
    let bl = scene.blurs[job.index];
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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn blur_write(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= job.blocks.x || gid.y >= job.blocks.y) {
        return;
    }
    let bx = job.block0.x + gid.x;
    let by = job.block0.y + gid.y;
    let bl = scene.blurs[job.index];
    var b = load_block(bx, by);
    let x0 = f32(bx * 4u);
    let y0 = f32(by * 2u);
    let k0 = row_cover(bl.rect, x0, y0);
    let k1 = row_cover(bl.rect, x0, y0 + 1.0);
    let p = vec2<f32>(x0, y0) + vec2<f32>(0.5);
    let q00 = blurred_at(bl, p);
    let q10 = blurred_at(bl, p + vec2<f32>(1.0, 0.0));
    let q20 = blurred_at(bl, p + vec2<f32>(2.0, 0.0));
    let q30 = blurred_at(bl, p + vec2<f32>(3.0, 0.0));
    let q01 = blurred_at(bl, p + vec2<f32>(0.0, 1.0));
    let q11 = blurred_at(bl, p + vec2<f32>(1.0, 1.0));
    let q21 = blurred_at(bl, p + vec2<f32>(2.0, 1.0));
    let q31 = blurred_at(bl, p + vec2<f32>(3.0, 1.0));
    b.y0 = mix(b.y0, vec4<f32>(q00.x, q10.x, q20.x, q30.x), k0);
    b.y1 = mix(b.y1, vec4<f32>(q01.x, q11.x, q21.x, q31.x), k1);
    // Chroma of each 2x2: the covered pixels' blurred chroma, the others keep the original.
    let a0 = (k0.x + k0.y + k1.x + k1.y) * 0.25;
    let a1 = (k0.z + k0.w + k1.z + k1.w) * 0.25;
    let s0 = (q00.yz * k0.x + q10.yz * k0.y + q01.yz * k1.x + q11.yz * k1.y) * 0.25;
    let s1 = (q20.yz * k0.z + q30.yz * k0.w + q21.yz * k1.z + q31.yz * k1.w) * 0.25;
    b.c = vec4<f32>(b.c.xy * (1.0 - a0) + s0, b.c.zw * (1.0 - a1) + s1);
    store_block(bx, by, b);
}
