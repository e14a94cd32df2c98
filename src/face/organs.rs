//! Face organs as polygons over FaceMesh's 468 landmarks (index groups: MediaPipe's connection lists
//! for eyes, brows, lips, nose and the face oval; cheeks, chin and forehead drawn on the mesh).

use serde::{Deserialize, Serialize};

/// What a mask can cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Organ {
    Eyes,
    Brows,
    Nose,
    Mouth,
    Cheeks,
    Chin,
    Forehead,
    /// The whole face (the face oval).
    Face,
}

impl Organ {
    /// Its name on the wire (`eyes`, `mouth`, …).
    pub fn name(self) -> &'static str {
        match self {
            Organ::Eyes => "eyes",
            Organ::Brows => "brows",
            Organ::Nose => "nose",
            Organ::Mouth => "mouth",
            Organ::Cheeks => "cheeks",
            Organ::Chin => "chin",
            Organ::Forehead => "forehead",
            Organ::Face => "face",
        }
    }

    pub const ALL: [Organ; 8] = [
        Organ::Eyes,
        Organ::Brows,
        Organ::Nose,
        Organ::Mouth,
        Organ::Cheeks,
        Organ::Chin,
        Organ::Forehead,
        Organ::Face,
    ];

    /// Landmark groups of this organ (one polygon each; two for paired organs).
    pub fn groups(self) -> &'static [&'static [usize]] {
        match self {
            Organ::Eyes => &[RIGHT_EYE, LEFT_EYE],
            Organ::Brows => &[RIGHT_BROW, LEFT_BROW],
            Organ::Nose => &[NOSE],
            Organ::Mouth => &[LIPS_OUTER],
            Organ::Cheeks => &[RIGHT_CHEEK, LEFT_CHEEK],
            Organ::Chin => &[CHIN],
            Organ::Forehead => &[FOREHEAD],
            Organ::Face => &[FACE_OVAL],
        }
    }

    /// The organ's polygons in frame pixels: the convex hull of each landmark group (the groups
    /// drawn by eye are point sets, and a hull never leaves a gap inside the organ).
    pub fn polygons(self, landmarks: &[[f32; 2]]) -> Vec<Vec<[f32; 2]>> {
        self.groups()
            .iter()
            .map(|g| convex_hull(g.iter().filter_map(|&i| landmarks.get(i).copied()).collect()))
            .collect()
    }
}

const LIPS_OUTER: &[usize] =
    &[61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185];
const RIGHT_EYE: &[usize] = &[33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246];
const LEFT_EYE: &[usize] = &[263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466];
const RIGHT_BROW: &[usize] = &[70, 63, 105, 66, 107, 55, 65, 52, 53, 46];
const LEFT_BROW: &[usize] = &[300, 293, 334, 296, 336, 285, 295, 282, 283, 276];
const NOSE: &[usize] =
    &[168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 294, 278, 344, 440, 275, 45, 220, 115, 48, 64];
const FACE_OVAL: &[usize] = &[
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150,
    136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];
const RIGHT_CHEEK: &[usize] = &[116, 117, 118, 100, 126, 142, 203, 206, 216, 192, 213, 147, 123];
const LEFT_CHEEK: &[usize] = &[345, 346, 347, 329, 355, 371, 423, 426, 436, 416, 433, 376, 352];
const CHIN: &[usize] =
    &[43, 106, 182, 83, 18, 313, 406, 335, 273, 424, 431, 395, 378, 400, 377, 152, 148, 176, 149, 170, 211, 204];
const FOREHEAD: &[usize] =
    &[70, 63, 105, 66, 107, 9, 336, 296, 334, 293, 300, 284, 332, 297, 338, 10, 109, 67, 103, 54];

/// Convex hull (Andrew's monotone chain), counter-clockwise in image coordinates.
pub fn convex_hull(mut p: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(p.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let pts: Box<dyn Iterator<Item = &[f32; 2]>> =
            if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &q in pts {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0 {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

/// Whether point `q` lies inside polygon `poly` (even-odd rule).
pub fn inside(poly: &[[f32; 2]], q: [f32; 2]) -> bool {
    let mut c = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + n - 1) % n]);
        if (a[1] > q[1]) != (b[1] > q[1]) && q[0] < (b[0] - a[0]) * (q[1] - a[1]) / (b[1] - a[1]) + a[0] {
            c = !c;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_an_inner_point() {
        let h = convex_hull(vec![[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 2.0]]);
        assert_eq!(h.len(), 4);
        assert!(inside(&h, [1.0, 1.5]));
        assert!(!inside(&h, [2.5, 1.0]));
    }
}
