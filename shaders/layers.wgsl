// Layers, drawn in order onto the blocks their rectangle touches: `layer_solid` for coloured
// rectangles, `layer_image` for RGBA images (bilinear, straight alpha: backgrounds, avatars, frames,
// text), `layer_bar` for the PK bar (two gradients meeting at the split, a divider, round corners).
// Blending happens in output YUV, which equals blending in RGB because the conversion is affine.

KERNEL(layer_solid) {
    let l = job.layer;
    let b = load_block(bx, by);
    let x0 = f32(bx * 4u);
    let y0 = f32(by * 2u);
    let k0 = row_cover(l.rect, x0, y0) * l.color.w;
    let k1 = row_cover(l.rect, x0, y0 + 1.0) * l.color.w;
    let q = l.color.xyz;
    store_block(bx, by, blend_block(b, q, q, q, q, q, q, q, q, k0, k1));
}

fn texel(l: Layer, x: u32, y: u32) -> vec4<f32> {
    return unpack4x8unorm(images[l.img.x + y * l.img.y + x]);
}

// Image colour (output YUV) and alpha at output pixel centre p; alpha 0 outside the rect.
fn image_at(l: Layer, p: vec2<f32>) -> vec4<f32> {
    let size = vec2<f32>(f32(l.img.y), f32(l.img.z));
    let g = clamp((p - l.rect.xy) / (l.rect.zw - l.rect.xy) * size - vec2<f32>(0.5), vec2<f32>(0.0), size - vec2<f32>(1.0));
    let i0 = vec2<u32>(floor(g));
    let i1 = min(i0 + vec2<u32>(1u), vec2<u32>(l.img.y - 1u, l.img.z - 1u));
    let f = fract(g);
    let t = mix(mix(texel(l, i0.x, i0.y), texel(l, i1.x, i0.y), f.x), mix(texel(l, i0.x, i1.y), texel(l, i1.x, i1.y), f.x), f.y) * l.color;
    let inside = p.x >= l.rect.x && p.x < l.rect.z && p.y >= l.rect.y && p.y < l.rect.w;
    return vec4<f32>(rgb_to_out(t.rgb), select(0.0, t.a, inside));
}

KERNEL(layer_image) {
    let l = job.layer;
    let b = load_block(bx, by);
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    SAMPLE8(q, image_at(l, #));
    BLEND8_ALPHA(q, b);
}

// The PK bar's colour (RGBA) at pixel centre p: the left gradient runs from the bar's left end (color)
// to the split (c2), the right one from the split (c3) to the right end (c4); a white divider marks the
// split and the corners are rounded (antialiased).
fn bar_at(l: Layer, p: vec2<f32>) -> vec4<f32> {
    let split = l.bar.x;
    let tl = clamp((p.x - l.rect.x) / max(split - l.rect.x, 1.0), 0.0, 1.0);
    let tr = clamp((p.x - split) / max(l.rect.z - split, 1.0), 0.0, 1.0);
    var c = select(mix(l.c3, l.c4, tr), mix(l.color, l.c2, tl), p.x < split);
    let d = select(0.0, 1.0, abs(p.x - split) < l.bar.y * 0.5);
    c = vec4<f32>(mix(c.rgb, vec3<f32>(1.0), d), max(c.a, d));
    // Rounded corners: distance to the rect shrunk by the radius.
    let r = l.bar.z;
    let inner = clamp(p, l.rect.xy + vec2<f32>(r), l.rect.zw - vec2<f32>(r));
    let corner = clamp(r + 0.5 - length(p - inner), 0.0, 1.0);
    let inside = p.x >= l.rect.x && p.x < l.rect.z && p.y >= l.rect.y && p.y < l.rect.w;
    return vec4<f32>(rgb_to_out(c.rgb), select(0.0, c.a * corner, inside));
}

KERNEL(layer_bar) {
    let l = job.layer;
    let b = load_block(bx, by);
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    SAMPLE8(q, bar_at(l, #));
    BLEND8_ALPHA(q, b);
}

// A sticker over a face organ: the image centred at bar.xy, turned by bar.z radians, c2.xy pixels
// wide and high (straight alpha); the job covers its bounding box.
fn sticker_at(l: Layer, p: vec2<f32>) -> vec4<f32> {
    let c = cos(l.bar.z);
    let s = sin(l.bar.z);
    let d = p - l.bar.xy;
    let q = vec2<f32>(c * d.x + s * d.y, -s * d.x + c * d.y) / l.c2.xy + vec2<f32>(0.5);
    let size = vec2<f32>(f32(l.img.y), f32(l.img.z));
    let g = clamp(q * size - vec2<f32>(0.5), vec2<f32>(0.0), size - vec2<f32>(1.0));
    let i0 = vec2<u32>(floor(g));
    let i1 = min(i0 + vec2<u32>(1u), vec2<u32>(l.img.y - 1u, l.img.z - 1u));
    let f = fract(g);
    let t = mix(mix(texel(l, i0.x, i0.y), texel(l, i1.x, i0.y), f.x), mix(texel(l, i0.x, i1.y), texel(l, i1.x, i1.y), f.x), f.y);
    // Inside the sticker, and inside the job's rectangle (the tile of the sticker's face).
    let inside = all(q >= vec2<f32>(0.0)) && all(q < vec2<f32>(1.0)) && all(p >= l.rect.xy) && all(p < l.rect.zw);
    return vec4<f32>(rgb_to_out(t.rgb), select(0.0, t.a, inside));
}

KERNEL(layer_sticker) {
    let l = job.layer;
    let b = load_block(bx, by);
    let p = vec2<f32>(f32(bx * 4u), f32(by * 2u)) + vec2<f32>(0.5);
    SAMPLE8(q, sticker_at(l, #));
    BLEND8_ALPHA(q, b);
}
