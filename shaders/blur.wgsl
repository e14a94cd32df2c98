// Separable Gaussian blur of the neighbourhoods that composite.wgsl's `blur_prep` rendered.
//
// Every blur rectangle has a slot in three small textures (prep -> horizontal -> vertical); a pixel at
// output position p lives at `slot + (p - src.xy)` in all of them, so the passes need no other mapping.
// z of the dispatch selects the blur: any number of rectangles costs two dispatches.
// Reads clamp to the neighbourhood, which is the rectangle grown by the kernel radius and clamped to
// the frame, so the frame edge is extended and no pixel outside the rectangle is ever written.

struct Blur {
    rect: vec4<f32>,
    src: vec4<f32>,
    slot: vec2<f32>,
    radius: u32,
    weight_off: u32,
};

struct Count {
    n_blurs: u32,
};

@group(0) @binding(0) var<uniform> count: Count;
@group(0) @binding(1) var<storage, read> blurs: array<Blur>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var src_tex: texture_2d<f32>;
@group(0) @binding(4) var dst_tex: texture_storage_2d<rgba16float, write>;

// Horizontal: output columns of the rectangle, rows of the whole neighbourhood.
@compute @workgroup_size(64, 1, 1)
fn blur_h(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.z >= count.n_blurs) {
        return;
    }
    let bl = blurs[gid.z];
    let x = bl.rect.x + f32(gid.x);
    let y = bl.src.y + f32(gid.y);
    if (x >= bl.rect.z || y >= bl.src.w) {
        return;
    }
    let base = bl.slot - bl.src.xy;
    let lo = i32(bl.src.x);
    let hi = i32(bl.src.z) - 1;
    let r = i32(bl.radius);
    let row = i32(base.y + y);
    var acc = textureLoad(src_tex, vec2<i32>(i32(base.x + x), row), 0) * weights[bl.weight_off];
    for (var k = 1; k <= r; k++) {
        let w = weights[bl.weight_off + u32(k)];
        let a = clamp(i32(x) - k, lo, hi);
        let b = clamp(i32(x) + k, lo, hi);
        acc += (textureLoad(src_tex, vec2<i32>(i32(base.x) + a, row), 0) + textureLoad(src_tex, vec2<i32>(i32(base.x) + b, row), 0)) * w;
    }
    textureStore(dst_tex, vec2<i32>(i32(base.x + x), row), acc);
}

// Vertical: only the rectangle itself.
@compute @workgroup_size(64, 1, 1)
fn blur_v(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.z >= count.n_blurs) {
        return;
    }
    let bl = blurs[gid.z];
    let x = bl.rect.x + f32(gid.x);
    let y = bl.rect.y + f32(gid.y);
    if (x >= bl.rect.z || y >= bl.rect.w) {
        return;
    }
    let base = bl.slot - bl.src.xy;
    let lo = i32(bl.src.y);
    let hi = i32(bl.src.w) - 1;
    let r = i32(bl.radius);
    let col = i32(base.x + x);
    var acc = textureLoad(src_tex, vec2<i32>(col, i32(base.y + y)), 0) * weights[bl.weight_off];
    for (var k = 1; k <= r; k++) {
        let w = weights[bl.weight_off + u32(k)];
        let a = clamp(i32(y) - k, lo, hi);
        let b = clamp(i32(y) + k, lo, hi);
        acc += (textureLoad(src_tex, vec2<i32>(col, i32(base.y) + a), 0) + textureLoad(src_tex, vec2<i32>(col, i32(base.y) + b), 0)) * w;
    }
    textureStore(dst_tex, vec2<i32>(col, i32(base.y + y)), acc);
}
