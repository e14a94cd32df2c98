// Declarations shared by every compositor shader (prepended to each module).
//
// The output is one NV12 storage buffer (BT.709 limited range): luma rows of `size.x` bytes, then
// interleaved chroma rows. Work is split into small dispatches over 4x2-pixel blocks (one u32 word of
// each luma row and one word of chroma per block), each specialised for one job: copy a tile, scale a
// tile, fix mixed edge blocks, blur a rectangle, draw a layer. Software Vulkan (lavapipe) runs both
// sides of every branch for a whole SIMD group, so the shaders avoid branches and the CPU picks the
// right dispatch instead.
//
// Upper-case words are filled in when the shaders are compiled (src/gpu/wgsl.rs): the workgroup size,
// MAX_TILES, and the parts every kernel shares (KERNEL, SAMPLE8, BLEND8_ALPHA, BLEND8).

struct Tile {
    dst: vec4<f32>,        // visible output rect x0, y0, x1, y1 (pixels)
    origin: vec2<f32>,     // source luma coordinate of output point (0, 0)
    axis_x: vec2<f32>,     // d(source) / d(output x)
    axis_y: vec2<f32>,     // d(source) / d(output y)
    crop_lo: vec2<f32>,    // crop window in source luma pixels (edges); sampling stays inside it
    crop_hi: vec2<f32>,
    cscale: vec2<f32>,     // chroma plane size / luma plane size
    m_y: vec4<f32>,        // output y = dot(m_y.xyz, input yuv 0..1) + m_y.w (0..255)
    m_u: vec4<f32>,
    m_v: vec4<f32>,
    y_base: u32,           // byte offsets of the planes in `planes`
    y_stride: u32,
    u_base: u32,
    v_base: u32,           // NV12: u_base + 1
    c_stride: u32,
    c_step: u32,           // 1 planar, 2 NV12 (interleaved)
    unit_x: i32,           // 1:1 tiles: source luma pixel = output pixel + unit
    unit_y: i32,
};

struct Layer {
    rect: vec4<f32>,       // x0, y0, x1, y1
    color: vec4<f32>,      // solid: output YUV (0..255) + alpha; image: RGBA tint
    img: vec4<u32>,        // image: word offset in `images`, width, height, unused
    c2: vec4<f32>,         // bar: RGBA at the left side's inner end (color is its outer end)
    c3: vec4<f32>,         // bar: RGBA at the right side's inner end
    c4: vec4<f32>,         // bar: RGBA at the right side's outer end
    bar: vec4<f32>,        // bar: split x (pixels), divider width, corner radius, unused
};

struct Blur {
    rect: vec4<f32>,       // blurred output rect (integers)
    src: vec4<f32>,        // neighbourhood read (rect grown by 3 sigma, clamped to the frame)
    factor: u32,           // the blur runs at 1/factor resolution (sigma / factor)
    lw: u32,               // low-resolution grid size
    lh: u32,
    radius: u32,           // kernel radius at low resolution
    slot: u32,             // first element of this blur's grid in the scratch buffers
    sigma: f32,            // at low resolution
    inv_norm: f32,         // 1 / sum of the kernel's taps
    _pad0: u32,
};

// Frame-wide values; `tiles` is read only by the edge job, which looks at every tile.
struct SceneU {
    size: vec2<u32>,
    n_tiles: u32,
    _pad: u32,
    background: vec4<f32>, // output YUV (0..255)
    tiles: array<Tile, MAX_TILES>,
};

// One dispatch's parameters, at a constant offset of its own uniform binding: llvmpipe loads those as
// scalars, whereas an array element picked by index is gathered per SIMD lane.
struct Job {
    block0: vec2<u32>,     // first block (x in 4-pixel words, y in row pairs)
    blocks: vec2<u32>,     // blocks covered by this dispatch
    list_off: u32,         // edge jobs: range in `block_list`
    list_len: u32,
    _pad0: u32,
    _pad1: u32,
    tile: Tile,
    layer: Layer,
    blur: Blur,
};

@group(0) @binding(0) var<uniform> scene: SceneU;
@group(0) @binding(1) var<storage, read> planes: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> block_list: array<u32>;
@group(0) @binding(4) var<storage, read_write> nv12: array<u32>;
@group(0) @binding(5) var<storage, read_write> scratch_a: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> scratch_b: array<vec4<f32>>;
// The first view's NV12 output (a dummy for the first view itself): tiles another view shows
// identically are copied from there (see `view_copy`).
@group(0) @binding(7) var<storage, read> donor: array<u32>;
@group(1) @binding(0) var<uniform> job: Job;

fn byte_at(off: u32) -> u32 {
    return (planes[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
}

// Four consecutive bytes starting at any byte offset, as one word (funnel shift of two words).
fn word_at(off: u32) -> u32 {
    let s = (off & 3u) * 8u;
    let w0 = planes[off >> 2u];
    let w1 = planes[(off >> 2u) + 1u];
    return select((w0 >> s) | (w1 << (32u - s)), w0, s == 0u);
}

// Bilinear sample of an 8-bit plane at continuous position `pos` (texel centres at +0.5), clamped to
// the texel-centre window [lo, hi]. Returns 0..1.
fn bilinear(base: u32, stride: u32, step: u32, pos: vec2<f32>, lo: vec2<f32>, hi: vec2<f32>) -> f32 {
    let p = clamp(pos, lo, hi) - vec2<f32>(0.5);
    let f = fract(p);
    let i0 = vec2<u32>(floor(p));
    let last = vec2<u32>(max(hi - vec2<f32>(0.5), vec2<f32>(0.0)));
    let i1 = min(i0 + vec2<u32>(1u), last);
    let a = f32(byte_at(base + i0.y * stride + i0.x * step));
    let b = f32(byte_at(base + i0.y * stride + i1.x * step));
    let c = f32(byte_at(base + i1.y * stride + i0.x * step));
    let d = f32(byte_at(base + i1.y * stride + i1.x * step));
    return mix(mix(a, b, f.x), mix(c, d, f.x), f.y) * (1.0 / 255.0);
}

// Output YUV (0..255) of tile t at output pixel centre p: bilinear luma and chroma.
fn tile_sample(t: Tile, p: vec2<f32>) -> vec3<f32> {
    let half = vec2<f32>(0.5);
    let s = t.origin + t.axis_x * p.x + t.axis_y * p.y;
    let y = bilinear(t.y_base, t.y_stride, 1u, s, t.crop_lo + half, t.crop_hi - half);
    let cs = s * t.cscale;
    let clo = t.crop_lo * t.cscale + half;
    let chi = t.crop_hi * t.cscale - half;
    let u = bilinear(t.u_base, t.c_stride, t.c_step, cs, clo, chi);
    let v = bilinear(t.v_base, t.c_stride, t.c_step, cs, clo, chi);
    let yuv = vec3<f32>(y, u, v);
    return vec3<f32>(dot(t.m_y.xyz, yuv) + t.m_y.w, dot(t.m_u.xyz, yuv) + t.m_u.w, dot(t.m_v.xyz, yuv) + t.m_v.w);
}

fn words_per_row() -> u32 {
    return scene.size.x / 4u;
}

fn luma_index(bx: u32, row: u32) -> u32 {
    return row * words_per_row() + bx;
}

fn chroma_index(bx: u32, by: u32) -> u32 {
    return scene.size.y * words_per_row() + by * words_per_row() + bx;
}

// A block's current content: two luma rows (0..255) and two chroma pairs (u0, v0, u1, v1).
struct Block {
    y0: vec4<f32>,
    y1: vec4<f32>,
    c: vec4<f32>,
};

fn load_block(bx: u32, by: u32) -> Block {
    var b: Block;
    b.y0 = unpack4x8unorm(nv12[luma_index(bx, by * 2u)]) * 255.0;
    b.y1 = unpack4x8unorm(nv12[luma_index(bx, by * 2u + 1u)]) * 255.0;
    b.c = unpack4x8unorm(nv12[chroma_index(bx, by)]) * 255.0;
    return b;
}

// pack4x8unorm rounds and clamps: exactly the 8-bit quantisation we want.
fn store_block(bx: u32, by: u32, b: Block) {
    let inv = 1.0 / 255.0;
    nv12[luma_index(bx, by * 2u)] = pack4x8unorm(b.y0 * inv);
    nv12[luma_index(bx, by * 2u + 1u)] = pack4x8unorm(b.y1 * inv);
    nv12[chroma_index(bx, by)] = pack4x8unorm(b.c * inv);
}

fn rgb_to_out(c: vec3<f32>) -> vec3<f32> {
    let y = dot(c, vec3<f32>(0.2126, 0.7152, 0.0722));
    return vec3<f32>(16.0 + 219.0 * y, 128.0 + 224.0 * (c.b - y) / 1.8556, 128.0 + 224.0 * (c.r - y) / 1.5748);
}

// Coverage (0 or 1) of the four pixels of a block row by a rect.
fn row_cover(r: vec4<f32>, x0: f32, y: f32) -> vec4<f32> {
    let xs = vec4<f32>(x0, x0 + 1.0, x0 + 2.0, x0 + 3.0) + vec4<f32>(0.5);
    let yc = y + 0.5;
    let inside_y = select(0.0, 1.0, yc >= r.y && yc < r.w);
    return select(vec4<f32>(0.0), vec4<f32>(inside_y), xs >= vec4<f32>(r.x) & xs < vec4<f32>(r.z));
}

// The block this invocation owns, when it is inside the job's block rectangle.
fn outside_job(gid: vec3<u32>) -> bool {
    return gid.x >= job.blocks.x || gid.y >= job.blocks.y;
}

fn job_block(gid: vec3<u32>) -> vec2<u32> {
    return job.block0 + gid.xy;
}

// Blends eight pixel colours (output YUV; qXY = column X, row Y) into block b with per-pixel weights
// k0 (row 0) and k1 (row 1): luma per pixel, chroma per 2x2 as the weighted mean, where uncovered
// pixels keep the block's chroma. Exact for any weights, as chroma is the mean of the 2x2.
fn blend_block(b: Block, q00: vec3<f32>, q10: vec3<f32>, q20: vec3<f32>, q30: vec3<f32>, q01: vec3<f32>, q11: vec3<f32>, q21: vec3<f32>, q31: vec3<f32>, k0: vec4<f32>, k1: vec4<f32>) -> Block {
    var o: Block;
    o.y0 = mix(b.y0, vec4<f32>(q00.x, q10.x, q20.x, q30.x), k0);
    o.y1 = mix(b.y1, vec4<f32>(q01.x, q11.x, q21.x, q31.x), k1);
    let a0 = (k0.x + k0.y + k1.x + k1.y) * 0.25;
    let a1 = (k0.z + k0.w + k1.z + k1.w) * 0.25;
    let s0 = (q00.yz * k0.x + q10.yz * k0.y + q01.yz * k1.x + q11.yz * k1.y) * 0.25;
    let s1 = (q20.yz * k0.z + q30.yz * k0.w + q21.yz * k1.z + q31.yz * k1.w) * 0.25;
    o.c = vec4<f32>(b.c.xy * (1.0 - a0) + s0, b.c.zw * (1.0 - a1) + s1);
    return o;
}
