//! Face tracking on a real face (tests/data/astronaut.png, public domain) with the bundled models.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use common::*;
use costream::face::{FaceModels, Organ, Range, Roi, Tracker, TrackerConfig};

fn models() -> Arc<FaceModels> {
    static M: OnceLock<Arc<FaceModels>> = OnceLock::new();
    M.get_or_init(|| Arc::new(FaceModels::load(Range::Short).expect("bundled models load"))).clone()
}

fn astronaut() -> image::RgbImage {
    image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png")).unwrap().to_rgb8()
}

fn centre(poly: &[[f32; 2]]) -> [f32; 2] {
    let n = poly.len() as f32;
    [poly.iter().map(|p| p[0]).sum::<f32>() / n, poly.iter().map(|p| p[1]).sum::<f32>() / n]
}

#[test]
fn astronaut_face_and_organs_are_where_a_face_has_them() {
    let img = astronaut();
    let m = models();
    let dets = m.detect(&img).unwrap();
    assert_eq!(dets.len(), 1, "{dets:?}");
    let d = dets[0];
    println!("face box {:?} score {:.2}", d.bbox, d.score);
    // The portrait's face: about x 180-270, y 80-175 of the 512×512 picture (checked by eye).
    let [x0, y0, x1, y1] = d.bbox;
    assert!((160.0..200.0).contains(&x0) && (250.0..290.0).contains(&x1) && (60.0..100.0).contains(&y0) && (150.0..200.0).contains(&y1), "{:?}", d.bbox);
    let lm = m.landmarks(&img, &Roi::from_detection(&d)).unwrap().expect("FaceMesh sees the face");
    let pts: Vec<[f32; 2]> = lm.iter().map(|p| [p[0], p[1]]).collect();
    let eyes = Organ::Eyes.polygons(&pts);
    let (re, le) = (centre(&eyes[0]), centre(&eyes[1]));
    let mouth = centre(&Organ::Mouth.polygons(&pts)[0]);
    let nose = centre(&Organ::Nose.polygons(&pts)[0]);
    let forehead = centre(&Organ::Forehead.polygons(&pts)[0]);
    assert!(re[0] < nose[0] && nose[0] < le[0], "eyes either side of the nose: {re:?} {nose:?} {le:?}");
    assert!(forehead[1] < re[1] && re[1] < nose[1] && nose[1] < mouth[1], "forehead, eyes, nose, mouth from the top");
    // Every organ lies inside the face oval.
    let oval = &Organ::Face.polygons(&pts)[0];
    for o in Organ::ALL {
        for poly in o.polygons(&pts) {
            let c = centre(&poly);
            assert!(costream::face::organs::inside(oval, c) || o == Organ::Forehead, "{o:?} centre {c:?} outside the face");
        }
    }
}

/// Frames of a clip as RGB images (decoded by ffmpeg).
fn frames(clip: &Path, w: u32, h: u32) -> Vec<image::RgbImage> {
    let o = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(clip).args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).output().unwrap();
    assert!(o.status.success());
    o.stdout.chunks_exact((w * h * 3) as usize).map(|c| image::RgbImage::from_raw(w, h, c.to_vec()).unwrap()).collect()
}

#[test]
fn a_moving_face_is_tracked_in_every_frame_and_held_through_a_three_frame_gap() {
    let d = workdir("face");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png");
    // The portrait zooms in and pans (a moving anchor); frames 20-22 are blanked (the face vanishes).
    let clip = d.join("moving.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&src)
        .args(["-vf", "zoompan=z='1+0.004*on':x='iw/2-(iw/zoom/2)+on':y='ih/3-(ih/zoom/3)':d=1:s=384x384:fps=30,drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(n,20,22)'", "-frames:v", "40", "-c:v", "libx264", "-qp", "10", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    let mut tr = Tracker::new(models(), TrackerConfig { hold_s: 0.2, ..TrackerConfig::default() });
    for (n, f) in frames(&clip, 384, 384).iter().enumerate() {
        let faces = tr.update(f, n as f64 / 30.0).unwrap();
        if (20..=22).contains(&n) {
            assert_eq!(faces.len(), 1, "frame {n}: the last mask is held through the gap");
            assert!(faces[0].held, "frame {n} has no face: held, not found");
        } else {
            assert_eq!(faces.len(), 1, "frame {n}: the face is found");
            assert!(!faces[0].held, "frame {n}: found, not held");
        }
    }
}

#[test]
fn a_clip_without_a_face_has_none() {
    let d = workdir("noface");
    let clip = clip(&d, "noface.mp4", &costream::testsrc::Clip::new("testsrc2=size=320x240:rate=30", 0.5));
    let mut tr = Tracker::new(models(), TrackerConfig::default());
    for (n, f) in frames(&clip, 320, 240).iter().enumerate() {
        assert!(tr.update(f, n as f64 / 30.0).unwrap().is_empty(), "frame {n}");
    }
}
