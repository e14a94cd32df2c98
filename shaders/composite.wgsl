// Fused composite: decoded YUV tiles -> RGB -> blur/layers -> BT.709 limited NV12, in ONE compute pass.
//
// Each invocation owns a 4x2 block of output pixels, so it writes two whole u32 words of luma and one
// u32 word of interleaved chroma (two U/V pairs) without atomics. The RGB picture never exists as a
// full-frame texture: on a software device (lavapipe) every full-frame pass costs several ms, so we
// pay for exactly one.
//
// `blur_prep` shares the compose code: it renders only the neighbourhood of each blur rectangle into a
// small scratch texture that blur.wgsl then filters.

struct Frame {
    size: vec2<u32>,       // output width, height (width % 4 == 0, height % 2 == 0)
    n_tiles: u32,
    n_layers: u32,
    n_blurs: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    background: vec4<f32>, // RGB shown where no tile covers (letterbox bars)
};

struct Tile {
    dst: vec4<f32>,        // visible output rect x0, y0, x1, y1 (pixels)
    origin: vec2<f32>,     // source luma coordinate of output point (0, 0)
    axis_x: vec2<f32>,     // d(source) / d(output x)
    axis_y: vec2<f32>,     // d(source) / d(output y)
    luma_off: vec2<f32>,   // where the luma plane sits in the luma atlas (texels)
    crop_lo: vec2<f32>,    // crop window in source luma pixels (edges); sampling stays inside it
    crop_hi: vec2<f32>,
    chroma_scale: vec2<f32>, // chroma plane size / luma plane size
    u_off: vec2<f32>,      // planar: U plane in the chroma atlas; NV12: UV plane in the UV atlas
    v_off: vec2<f32>,      // planar: V plane in the chroma atlas
    m_r: vec4<f32>,        // r = dot(m_r.xyz, yuv) + m_r.w   (matrix and range of THIS stream)
    m_g: vec4<f32>,
    m_b: vec4<f32>,
    flags: u32,            // bit 0: chroma is interleaved (NV12)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

struct Layer {
    rect: vec4<f32>,       // x0, y0, x1, y1
    color: vec4<f32>,      // straight-alpha RGBA; for images a tint multiplied with the texel
    uv: vec4<f32>,         // image: u0, v0, u1, v1 in the image atlas
    kind: u32,             // 0 solid, 1 image
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

struct Blur {
    rect: vec4<f32>,       // blurred output rect x0, y0, x1, y1 (integers)
    src: vec4<f32>,        // neighbourhood rendered by blur_prep: x0, y0, x1, y1 (clamped to the frame)
    slot: vec2<f32>,       // top-left of this blur's slot in the scratch/blurred textures
    radius: u32,
    weight_off: u32,       // first weight of this blur's kernel in `weights`
};

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> tiles: array<Tile>;
@group(0) @binding(2) var<storage, read> layers: array<Layer>;
@group(0) @binding(3) var<storage, read> blurs: array<Blur>;
@group(0) @binding(4) var atlas_y: texture_2d<f32>;
@group(0) @binding(5) var atlas_c: texture_2d<f32>;
@group(0) @binding(6) var atlas_uv: texture_2d<f32>;
@group(0) @binding(7) var blurred: texture_2d<f32>;
@group(0) @binding(8) var images: texture_2d<f32>;
@group(0) @binding(9) var lin: sampler;
@group(0) @binding(10) var<storage, read_write> nv12: array<u32>;
@group(0) @binding(11) var prep_out: texture_storage_2d<rgba16float, write>;

fn sample_tile(t: Tile, p: vec2<f32>) -> vec3<f32> {
    let half = vec2<f32>(0.5);
    let s = clamp(t.origin + t.axis_x * p.x + t.axis_y * p.y, t.crop_lo + half, t.crop_hi - half);
    let y_dim = vec2<f32>(textureDimensions(atlas_y));
    let y = textureSampleLevel(atlas_y, lin, (t.luma_off + s) / y_dim, 0.0).r;
    // Chroma sample positions scale from luma centres; clamp half a chroma texel inside the plane.
    let cs = clamp(s * t.chroma_scale, t.crop_lo * t.chroma_scale + half, t.crop_hi * t.chroma_scale - half);
    var u: f32;
    var v: f32;
    if ((t.flags & 1u) != 0u) {
        let uv_dim = vec2<f32>(textureDimensions(atlas_uv));
        let uv = textureSampleLevel(atlas_uv, lin, (t.u_off + cs) / uv_dim, 0.0).rg;
        u = uv.x;
        v = uv.y;
    } else {
        let c_dim = vec2<f32>(textureDimensions(atlas_c));
        u = textureSampleLevel(atlas_c, lin, (t.u_off + cs) / c_dim, 0.0).r;
        v = textureSampleLevel(atlas_c, lin, (t.v_off + cs) / c_dim, 0.0).r;
    }
    let yuv = vec3<f32>(y, u, v);
    return clamp(vec3<f32>(dot(t.m_r.xyz, yuv) + t.m_r.w, dot(t.m_g.xyz, yuv) + t.m_g.w, dot(t.m_b.xyz, yuv) + t.m_b.w), vec3<f32>(0.0), vec3<f32>(1.0));
}

// The video picture (tiles over background) at pixel centre p. Later tiles are on top.
fn video_rgb(p: vec2<f32>) -> vec3<f32> {
    var i = frame.n_tiles;
    loop {
        if (i == 0u) {
            break;
        }
        i = i - 1u;
        let t = tiles[i];
        if (p.x >= t.dst.x && p.x < t.dst.z && p.y >= t.dst.y && p.y < t.dst.w) {
            return sample_tile(t, p);
        }
    }
    return frame.background.rgb;
}

fn inside(p: vec2<f32>, r: vec4<f32>) -> bool {
    return p.x >= r.x && p.x < r.z && p.y >= r.y && p.y < r.w;
}

fn pixel_rgb(p: vec2<f32>) -> vec3<f32> {
    var c: vec3<f32>;
    var done = false;
    for (var b = 0u; b < frame.n_blurs; b++) {
        let bl = blurs[b];
        if (inside(p, bl.rect)) {
            let q = vec2<i32>(bl.slot + floor(p) - bl.src.xy);
            c = textureLoad(blurred, q, 0).rgb;
            done = true;
            break;
        }
    }
    if (!done) {
        c = video_rgb(p);
    }
    for (var l = 0u; l < frame.n_layers; l++) {
        let ly = layers[l];
        if (inside(p, ly.rect)) {
            var src = ly.color;
            if (ly.kind == 1u) {
                let f = (p - ly.rect.xy) / (ly.rect.zw - ly.rect.xy);
                src = src * textureSampleLevel(images, lin, mix(ly.uv.xy, ly.uv.zw, f), 0.0);
            }
            c = mix(c, src.rgb, src.a);
        }
    }
    return c;
}

// BT.709, limited range, 8 bit.
fn luma(c: vec3<f32>) -> f32 {
    return 16.0 + 219.0 * dot(c, vec3<f32>(0.2126, 0.7152, 0.0722));
}

fn to_byte(x: f32) -> u32 {
    return u32(clamp(x + 0.5, 0.0, 255.0));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn composite_nv12(@builtin(global_invocation_id) gid: vec3<u32>) {
    let words = frame.size.x / 4u;
    if (gid.x >= words || gid.y * 2u >= frame.size.y) {
        return;
    }
    let x0 = f32(gid.x * 4u) + 0.5;
    let y0 = f32(gid.y * 2u) + 0.5;
    var yw0 = 0u;
    var yw1 = 0u;
    var uvw = 0u;
    for (var pair = 0u; pair < 2u; pair++) {
        let xa = x0 + f32(pair * 2u);
        let c00 = pixel_rgb(vec2<f32>(xa, y0));
        let c10 = pixel_rgb(vec2<f32>(xa + 1.0, y0));
        let c01 = pixel_rgb(vec2<f32>(xa, y0 + 1.0));
        let c11 = pixel_rgb(vec2<f32>(xa + 1.0, y0 + 1.0));
        let sh = pair * 16u;
        yw0 = yw0 | (to_byte(luma(c00)) << sh) | (to_byte(luma(c10)) << (sh + 8u));
        yw1 = yw1 | (to_byte(luma(c01)) << sh) | (to_byte(luma(c11)) << (sh + 8u));
        let avg = (c00 + c10 + c01 + c11) * 0.25;
        let ya = dot(avg, vec3<f32>(0.2126, 0.7152, 0.0722));
        let u = 128.0 + 224.0 * (avg.b - ya) / 1.8556;
        let v = 128.0 + 224.0 * (avg.r - ya) / 1.5748;
        uvw = uvw | (to_byte(u) << sh) | (to_byte(v) << (sh + 8u));
    }
    let row = gid.y * 2u;
    nv12[row * words + gid.x] = yw0;
    nv12[(row + 1u) * words + gid.x] = yw1;
    nv12[frame.size.y * words + gid.y * words + gid.x] = uvw;
}

// Renders the video picture around each blur rectangle (z = blur index) into its scratch slot.
@compute @workgroup_size(16, 16, 1)
fn blur_prep(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.z >= frame.n_blurs) {
        return;
    }
    let bl = blurs[gid.z];
    let p = bl.src.xy + vec2<f32>(gid.xy) + vec2<f32>(0.5);
    if (p.x >= bl.src.z || p.y >= bl.src.w) {
        return;
    }
    textureStore(prep_out, vec2<i32>(bl.slot + vec2<f32>(gid.xy)), vec4<f32>(video_rgb(p), 1.0));
}
