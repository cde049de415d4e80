//! Text in pictures (OCR): image attachments, inline images, pictures inside documents and
//! PDF pages that carry no text layer are read by Tesseract, run as a child process
//! (`tesseract stdin stdout … tsv`, one thread each, at most `ocr_workers` at once, killed at
//! the message's OCR deadline). A child process rather than libtesseract in this process:
//! a hostile image that crashes or hangs Leptonica takes down one child, never the relay, and
//! a deadline is a kill. PDF pages are rendered by poppler's `pdftoppm` the same way.
//!
//! Images are checked before anything is decoded (width × height from the header against
//! `ocr_max_pixels`, pages of a TIFF against `ocr_max_pages`: decompression bombs), decoded
//! by the `image` crate (a TIFF's pages by the `tiff` crate, CCITT fax included) within that
//! allocation, flattened onto white, scaled towards 2,400 pixels on the longer side (a
//! screenshot's 9-pixel text is read far better at two or three times the size; a 300-dpi
//! scan as well and faster at about 200 dpi) and cleaned by a 3×3 median (copier speckle,
//! JPEG noise) before Tesseract sees them. Tesseract's
//! word boxes come back as lines, with a tab where a wide gap separates two words, so a
//! register's rows become table rows for the same-row name rule and the bulk count.
//!
//! Results are cached by the SHA-256 of the bytes (the school logo in every signature is read
//! once). Never any I/O here but the child processes; never a decision: text out, or why not.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `[scan]`: how pictures are read. Every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// Read text in pictures. Off, every picture that could hold text is "not scanned" and
    /// the scan is incomplete (the fail mode decides).
    #[serde(default = "yes")]
    pub ocr: bool,
    /// Tesseract language packs, joined with `+` ("eng", "eng+pol").
    #[serde(default = "default_languages")]
    pub ocr_languages: String,
    /// Seconds of OCR one message may use (within the scan's own budget).
    #[serde(default = "default_budget")]
    pub ocr_time_budget: u64,
    /// Pixels in one picture or rendered page; a larger one is not read.
    #[serde(default = "default_pixels")]
    pub ocr_max_pixels: u64,
    /// Pages of one multi-page TIFF read; more make the scan incomplete.
    #[serde(default = "default_pages")]
    pub ocr_max_pages: usize,
    /// OCR processes at once for the whole relay (0: one per CPU core).
    #[serde(default)]
    pub ocr_workers: usize,
    /// The Tesseract program (Debian's `tesseract-ocr`).
    #[serde(default = "default_tesseract")]
    pub ocr_program: String,
    /// The PDF page renderer (Debian's `poppler-utils`).
    #[serde(default = "default_pdftoppm")]
    pub pdf_renderer: String,
}

fn yes() -> bool {
    true
}
fn default_languages() -> String {
    "eng".into()
}
fn default_budget() -> u64 {
    15
}
fn default_pixels() -> u64 {
    40_000_000
}
fn default_pages() -> usize {
    30
}
fn default_tesseract() -> String {
    "tesseract".into()
}
fn default_pdftoppm() -> String {
    "pdftoppm".into()
}

impl Default for ScanConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// The OCR settings a scan runs with (from `[scan]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: bool,
    pub languages: String,
    pub time_budget: Duration,
    pub max_pixels: u64,
    pub max_pages: usize,
    pub workers: usize,
    pub program: String,
    pub renderer: String,
}

impl Default for Settings {
    fn default() -> Self {
        ScanConfig::default().settings()
    }
}

impl ScanConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            enabled: self.ocr,
            languages: self.ocr_languages.clone(),
            time_budget: Duration::from_secs(self.ocr_time_budget.max(1)),
            max_pixels: self.ocr_max_pixels.max(1),
            max_pages: self.ocr_max_pages.max(1),
            workers: if self.ocr_workers == 0 {
                std::thread::available_parallelism().map_or(2, |n| n.get())
            } else {
                self.ocr_workers
            },
            program: self.ocr_program.clone(),
            renderer: self.pdf_renderer.clone(),
        }
    }

    /// Checks the keys a school sets by hand.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '+';
        if self.ocr_languages.is_empty() || !self.ocr_languages.chars().all(ok) {
            return Err(format!(
                "[scan] ocr_languages: {:?} must be Tesseract language names joined with + (\"eng\", \"eng+pol\")",
                self.ocr_languages
            ));
        }
        Ok(())
    }
}

/// Why a picture gave no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoText {
    /// It cannot hold readable text (a spacer, a tracking pixel, an icon): nothing is missed.
    TooSmall(String),
    /// It was not read: the scan is incomplete.
    NotRead(String),
}

/// Text read from one picture: per page (a TIFF's pages; `None` for a one-page picture).
pub type Pages = Vec<(Option<u32>, String)>;

/// The text in an image file of `kind` (as sniffed: "PNG", "JPEG", "TIFF"…), read before
/// `deadline`.
pub fn image(bytes: &[u8], kind: &str, s: &Settings, deadline: Instant) -> Result<Pages, NoText> {
    if kind == "HEIC" {
        return Err(NoText::NotRead(
            "HEIC image: no HEIC decoder here (an iPhone photo: ask for it as JPEG)".into(),
        ));
    }
    if !s.enabled {
        return Err(NoText::NotRead(format!(
            "{kind} image: reading text in pictures is off ([scan] ocr = false)"
        )));
    }
    let key = cache_key(bytes, s);
    if let Some(hit) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return hit.as_ref().clone();
    }
    let result = read_image(bytes, kind, s, deadline);
    // Time-outs and failures are not cached: the next message tries again.
    if matches!(result, Ok(_) | Err(NoText::TooSmall(_))) {
        remember(key, &result);
    }
    result
}

/// [`image`] without the cache (benchmarks measure the reading itself with it).
pub fn read_image(
    bytes: &[u8],
    kind: &str,
    s: &Settings,
    deadline: Instant,
) -> Result<Pages, NoText> {
    if kind != "TIFF" {
        let pgm = clean(decode(bytes, kind, s)?);
        return tesseract(&pgm, s, Some(300), deadline).map(|tsv| tsv_pages(&tsv, false));
    }
    tiff_pages(bytes, s)?;
    match tiff_gray(bytes, s) {
        Ok(pages) => {
            let mut out = Vec::new();
            for (n, page) in pages {
                let tsv = tesseract(&clean(page), s, Some(300), deadline)?;
                let text = tsv_pages(&tsv, false).into_iter().map(|(_, t)| t).collect();
                out.push((Some(n), text));
            }
            Ok(out)
        }
        // A TIFF layout read here only by Leptonica (a palette, CMYK, …): Tesseract reads
        // every page of the file itself.
        Err(None) => tesseract(bytes, s, None, deadline).map(|tsv| tsv_pages(&tsv, true)),
        Err(Some(e)) => Err(e),
    }
}

/// PDF pages are rendered at this resolution: an A4 page is then 1654×2339 pixels, where
/// body text is read as well as at 300 dpi and about twice as fast.
const RENDER_DPI: f32 = 200.0;

/// The text of page `page` (1-based) of a PDF, rendered by `pdftoppm` at [`RENDER_DPI`] (less
/// for a page so large that that would pass `ocr_max_pixels`). `size_pt`: the page's width
/// and height in points.
pub fn pdf_page(
    pdf: &[u8],
    page: u32,
    size_pt: (f32, f32),
    s: &Settings,
    deadline: Instant,
) -> Result<String, NoText> {
    if !s.enabled {
        return Err(NoText::NotRead(format!(
            "page {page} has no text layer (a scanned page) and reading text in pictures is off ([scan] ocr = false)"
        )));
    }
    let inches = (size_pt.0.abs().max(1.0) / 72.0) * (size_pt.1.abs().max(1.0) / 72.0);
    let dpi = ((s.max_pixels as f32 / inches).sqrt().min(RENDER_DPI)) as u32;
    if dpi < 72 {
        return Err(NoText::NotRead(format!(
            "page {page}: {:.0}×{:.0} pt is too large to render within {} pixels",
            size_pt.0, size_pt.1, s.max_pixels
        )));
    }
    let n = page.to_string();
    let r = dpi.to_string();
    let pgm = run(
        &s.renderer,
        &["-r", &r, "-gray", "-f", &n, "-l", &n, "-singlefile", "-"],
        pdf,
        deadline,
        (s.max_pixels as usize) + 64,
    )
    .map_err(|e| NoText::NotRead(format!("page {page}: {e}")))?;
    let page_image = clean(decode(&pgm, "rendered PDF page", s)?);
    let tsv = tesseract(&page_image, s, Some(dpi), deadline)?;
    Ok(tsv_pages(&tsv, false)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n"))
}

// ---- the cache ----

type Key = [u8; 32];
type Cached = Arc<Result<Pages, NoText>>;

fn cache() -> &'static Mutex<HashMap<Key, Cached>> {
    static C: OnceLock<Mutex<HashMap<Key, Cached>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Pictures remembered; past this the cache starts again (a logo comes back at once).
const CACHE_ENTRIES: usize = 2048;

fn cache_key(bytes: &[u8], s: &Settings) -> Key {
    let mut h = Sha256::new();
    h.update(s.languages.as_bytes());
    h.update([0]);
    h.update(bytes);
    h.finalize().into()
}

fn remember(key: Key, result: &Result<Pages, NoText>) {
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= CACHE_ENTRIES {
        c.clear();
    }
    c.insert(key, Arc::new(result.clone()));
}

// ---- pictures ----

/// Narrower, lower or smaller than this holds no readable text.
const MIN_WIDTH: u32 = 24;
const MIN_HEIGHT: u32 = 10;
const MIN_AREA: u64 = 2_000;
/// Pictures are scaled towards this many pixels on the longer side (see [`clean`]).
const TARGET_SIDE: u32 = 2_400;

fn check_size(w: u32, h: u32, s: &Settings, what: &str) -> Result<(), NoText> {
    let area = u64::from(w) * u64::from(h);
    if area > s.max_pixels {
        return Err(NoText::NotRead(format!(
            "{what}: {w}×{h} pixels, more than the {} read",
            s.max_pixels
        )));
    }
    if w < MIN_WIDTH || h < MIN_HEIGHT || area < MIN_AREA {
        return Err(NoText::TooSmall(format!(
            "{what}: {w}×{h} pixels, too small to hold text"
        )));
    }
    Ok(())
}

/// A TIFF's pages checked (count and size) before Tesseract decodes them.
fn tiff_pages(bytes: &[u8], s: &Settings) -> Result<(), NoText> {
    let bad = |e: tiff::TiffError| NoText::NotRead(format!("damaged TIFF image: {e}"));
    let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut pages = 0usize;
    let mut any_text_size = false;
    loop {
        pages += 1;
        if pages > s.max_pages {
            return Err(NoText::NotRead(format!(
                "TIFF image with more than {} pages: not read",
                s.max_pages
            )));
        }
        let (w, h) = d.dimensions().map_err(bad)?;
        match check_size(w, h, s, &format!("TIFF page {pages}")) {
            Ok(()) => any_text_size = true,
            Err(NoText::TooSmall(_)) => {}
            Err(e) => return Err(e),
        }
        if !d.more_images() {
            break;
        }
        d.next_image().map_err(bad)?;
    }
    if any_text_size {
        Ok(())
    } else {
        Err(NoText::TooSmall("TIFF image too small to hold text".into()))
    }
}

/// Decodes a picture (within its checked size) to grey levels, transparent parts white.
fn decode(bytes: &[u8], kind: &str, s: &Settings) -> Result<image::GrayImage, NoText> {
    use image::ImageReader;
    let what = format!("{kind} image");
    let bad = |e: image::ImageError| NoText::NotRead(format!("damaged {kind} image: {e}"));
    let open = || {
        ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| NoText::NotRead(format!("{what}: {e}")))
    };
    let (w, h) = open()?.into_dimensions().map_err(bad)?;
    check_size(w, h, s, &what)?;
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(s.max_pixels.saturating_mul(8));
    reader.limits(limits);
    Ok(flatten(&reader.decode().map_err(bad)?))
}

/// Scales a page towards [`TARGET_SIDE`] pixels on its longer side (up at most 3× for a
/// screenshot's small text; down for a 300-dpi scan, read as well and faster at about 200
/// dpi), cleans it with a 3×3 median, and gives it as a binary PGM for Tesseract.
fn clean(gray: image::GrayImage) -> Vec<u8> {
    let (w, h) = gray.dimensions();
    let side = w.max(h) as f32;
    let f = (TARGET_SIDE as f32 / side).min(3.0);
    let gray = if !(0.8..1.25).contains(&f) {
        let (nw, nh) = (
            (w as f32 * f).max(1.0) as u32,
            (h as f32 * f).max(1.0) as u32,
        );
        // The image crate's fast integer scaler: a tenth of the time of its filtered resize
        // on an A4 page (65 ms against 450), and Tesseract reads its output as well.
        image::imageops::thumbnail(&gray, nw, nh)
    } else {
        gray
    };
    let clean = median3(&gray);
    let mut pgm = format!("P5\n{} {}\n255\n", clean.width(), clean.height()).into_bytes();
    pgm.extend_from_slice(clean.as_raw());
    pgm
}

/// A TIFF's pages as grey levels (numbered from 1; pages too small to hold text left out).
/// `Err(None)`: a layout not decoded here (Tesseract reads the file itself).
fn tiff_gray(bytes: &[u8], s: &Settings) -> Result<Vec<(u32, image::GrayImage)>, Option<NoText>> {
    use tiff::ColorType;
    use tiff::decoder::DecodingResult;
    let bad = |e: tiff::TiffError| Some(NoText::NotRead(format!("damaged TIFF image: {e}")));
    let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut out = Vec::new();
    for n in 1.. {
        let (w, h) = d.dimensions().map_err(bad)?;
        if check_size(w, h, s, "TIFF page").is_ok() {
            // 0: WhiteIsZero (fax and many scanners), 1: BlackIsZero.
            let white_is_zero = d
                .get_tag_u32(tiff::tags::Tag::PhotometricInterpretation)
                .is_ok_and(|p| p == 0);
            let color = d.colortype().map_err(bad)?;
            let data = d.read_image().map_err(bad)?;
            let (wu, hu) = (w as usize, h as usize);
            let mut gray: Vec<u8> = match (color, data) {
                (ColorType::Gray(1), DecodingResult::U8(v)) => {
                    let stride = wu.div_ceil(8);
                    let mut g = Vec::with_capacity(wu * hu);
                    for y in 0..hu {
                        for x in 0..wu {
                            let bit = v
                                .get(y * stride + x / 8)
                                .map_or(1, |b| (b >> (7 - x % 8)) & 1);
                            g.push(if bit == 1 { 255 } else { 0 });
                        }
                    }
                    g
                }
                (ColorType::Gray(8), DecodingResult::U8(v)) => v,
                (ColorType::Gray(16), DecodingResult::U16(v)) => {
                    v.iter().map(|p| (p >> 8) as u8).collect()
                }
                (ColorType::RGB(8), DecodingResult::U8(v)) => v
                    .chunks_exact(3)
                    .map(|p| {
                        ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114)
                            / 1000) as u8
                    })
                    .collect(),
                _ => return Err(None),
            };
            if white_is_zero {
                gray.iter_mut().for_each(|p| *p = 255 - *p);
            }
            let img = image::GrayImage::from_raw(w, h, gray).ok_or(None)?;
            out.push((n, img));
        }
        if !d.more_images() {
            break;
        }
        d.next_image().map_err(bad)?;
    }
    Ok(out)
}

/// Grey levels, transparent parts white (a PNG of black text on nothing is black on white).
fn flatten(img: &image::DynamicImage) -> image::GrayImage {
    if !img.color().has_alpha() {
        return img.to_luma8();
    }
    let la = img.to_luma_alpha8();
    image::GrayImage::from_fn(la.width(), la.height(), |x, y| {
        let [l, a] = la.get_pixel(x, y).0;
        let (l, a) = (u32::from(l), u32::from(a));
        image::Luma([((l * a + 255 * (255 - a)) / 255) as u8])
    })
}

/// A 3×3 median: removes single-pixel speckle and softens JPEG ringing, keeps strokes two
/// or more pixels wide.
fn median3(img: &image::GrayImage) -> image::GrayImage {
    let (w, h) = img.dimensions();
    if w < 3 || h < 3 {
        return img.clone();
    }
    let src = img.as_raw();
    let (wu, hu) = (w as usize, h as usize);
    let mut out = src.clone();
    for y in 1..hu - 1 {
        let rows = [
            &src[(y - 1) * wu..y * wu],
            &src[y * wu..(y + 1) * wu],
            &src[(y + 1) * wu..(y + 2) * wu],
        ];
        let dst = &mut out[y * wu..(y + 1) * wu];
        for x in 1..wu - 1 {
            let mut v = [
                rows[0][x - 1],
                rows[0][x],
                rows[0][x + 1],
                rows[1][x - 1],
                rows[1][x],
                rows[1][x + 1],
                rows[2][x - 1],
                rows[2][x],
                rows[2][x + 1],
            ];
            // A white neighbourhood (most of a page) needs no sort.
            if v.iter().all(|&p| p == 255) {
                continue;
            }
            v.sort_unstable();
            dst[x] = v[4];
        }
    }
    image::GrayImage::from_raw(w, h, out).expect("same size")
}

// ---- child processes ----

/// OCR processes running now, bounded by `ocr_workers` for the whole process.
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

struct Slot(&'static Slots);

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.used.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

fn slot(max: usize, deadline: Instant) -> Option<Slot> {
    static S: Slots = Slots {
        used: Mutex::new(0),
        freed: Condvar::new(),
    };
    let mut used = S.used.lock().unwrap_or_else(|p| p.into_inner());
    while *used >= max {
        let left = deadline.checked_duration_since(Instant::now())?;
        used = S
            .freed
            .wait_timeout(used, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    *used += 1;
    Some(Slot(&S))
}

/// Tesseract on `input` (a picture file's bytes); its TSV output.
fn tesseract(
    input: &[u8],
    s: &Settings,
    dpi: Option<u32>,
    deadline: Instant,
) -> Result<String, NoText> {
    let Some(_slot) = slot(s.workers, deadline) else {
        return Err(NoText::NotRead(
            "OCR time budget used up waiting for a free OCR worker".into(),
        ));
    };
    let dpi = dpi.map(|d| d.to_string());
    let mut args = vec!["stdin", "stdout", "-l", &s.languages, "--psm", "6"];
    if let Some(d) = &dpi {
        args.extend(["--dpi", d]);
    }
    args.push("tsv");
    let out = run(&s.program, &args, input, deadline, 16 << 20).map_err(NoText::NotRead)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Runs `program` with `input` on its stdin; its stdout (at most `max_out` bytes), or why
/// not. Killed at `deadline`.
fn run(
    program: &str,
    args: &[&str],
    input: &[u8],
    deadline: Instant,
    max_out: usize,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new(program)
        .args(args)
        // One thread per OCR process: parallelism comes from `ocr_workers`.
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            warn_missing(program, &e);
            format!("{program} could not be started ({e}): install it (README) to read pictures")
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = (&mut stdout)
            .take(max_out as u64 + 1)
            .read_to_end(&mut out)
            .map(|_| out);
        let _ = tx.send(r);
    });
    let left = deadline.saturating_duration_since(Instant::now());
    let result = match rx.recv_timeout(left) {
        Ok(Ok(out)) if out.len() > max_out => Err(format!("{program} wrote too much")),
        Ok(Ok(out)) => match child.wait() {
            Ok(st) if st.success() => Ok(out),
            Ok(st) => Err(format!(
                "{program} failed ({st}): the picture could not be read"
            )),
            Err(e) => Err(format!("{program}: {e}")),
        },
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => Err("OCR time budget used up".to_string()),
    };
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = writer.join();
    result
}

/// Logs once that a program OCR needs is missing (each later picture is still reported).
fn warn_missing(program: &str, e: &std::io::Error) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(program, error = %e, "OCR program missing: pictures are reported as not scanned");
    });
}

// ---- Tesseract's TSV ----

/// Tesseract's word boxes as text per page: a line a line (blocks and paragraphs apart), and
/// a tab where the gap between two words on a line is wider than the line is high (a
/// table's columns).
fn tsv_pages(tsv: &str, paged: bool) -> Pages {
    struct Word<'a> {
        left: i32,
        right: i32,
        height: i32,
        text: &'a str,
    }
    let mut pages: Vec<(u32, Vec<((u32, u32, u32), Vec<Word>)>)> = Vec::new();
    for row in tsv.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 || f[0] != "5" {
            continue;
        }
        let num = |i: usize| f[i].trim().parse::<i32>().unwrap_or(0);
        let text = f[11].trim();
        if text.is_empty() {
            continue;
        }
        let page = num(1).max(0) as u32;
        let line = (num(2) as u32, num(3) as u32, num(4) as u32);
        let word = Word {
            left: num(6),
            right: num(6) + num(8),
            height: num(9).max(1),
            text,
        };
        if pages.last().is_none_or(|p| p.0 != page) {
            pages.push((page, Vec::new()));
        }
        let lines = &mut pages.last_mut().expect("pushed").1;
        match lines.last_mut() {
            Some((l, words)) if *l == line => words.push(word),
            _ => lines.push((line, vec![word])),
        }
    }
    pages
        .into_iter()
        .map(|(page, lines)| {
            // A page that says UPN (a register, an MIS screen) has its UPN-shaped words
            // mended where OCR misread a check letter as a digit (B→8, T→7, …).
            let upn_page = lines.iter().any(|(_, ws)| {
                ws.iter().any(|w| {
                    w.text
                        .trim_matches(|c: char| !c.is_alphanumeric())
                        .eq_ignore_ascii_case("UPN")
                })
            });
            let mut text = String::new();
            let mut last_par = None;
            for ((block, par, _), mut words) in lines {
                if last_par.is_some_and(|p| p != (block, par)) {
                    text.push('\n');
                }
                last_par = Some((block, par));
                words.sort_by_key(|w| w.left);
                let mut heights: Vec<i32> = words.iter().map(|w| w.height).collect();
                heights.sort_unstable();
                let height = heights[heights.len() / 2];
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        let gap = w.left - words[i - 1].right;
                        text.push(if gap > height { '\t' } else { ' ' });
                    }
                    match upn_page.then(|| mend_upn(w.text)).flatten() {
                        Some(m) => text.push_str(&m),
                        None => text.push_str(w.text),
                    }
                }
                text.push('\n');
            }
            (paged.then_some(page), text)
        })
        .collect()
}

/// Letters OCR reads as digits at the start of a UPN, and digits it reads as letters in
/// its body.
const AS_DIGIT: &[(char, &str)] = &[
    ('0', "DOQ"),
    ('1', "ILT"),
    ('2', "Z"),
    ('4', "A"),
    ('5', "S"),
    ('6', "G"),
    ('7', "TZ"),
    ('8', "B"),
];

/// A word that is a UPN but for OCR's confusions (a check letter read as a digit, O for 0 or
/// l for 1 among the digits), mended; `None` when no reading of it is a valid UPN (so a
/// barcode or a phone number stays as it is).
fn mend_upn(word: &str) -> Option<String> {
    let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if core.len() != 13 || !core.is_ascii() || crate::identifiers::upn_valid(core) {
        return None;
    }
    let b = core.as_bytes();
    let digit = |c: u8| match c {
        b'O' | b'o' | b'D' | b'Q' => Some(b'0'),
        b'I' | b'l' | b'|' | b'i' => Some(b'1'),
        c if c.is_ascii_digit() => Some(c),
        _ => None,
    };
    let mut body: Vec<u8> = Vec::with_capacity(12);
    for &c in &b[1..12] {
        body.push(digit(c)?);
    }
    // The last character may be a digit or a letter (temporary UPNs).
    body.push(if b[12].is_ascii_alphabetic() {
        b[12].to_ascii_uppercase()
    } else {
        b[12]
    });
    let first = b[0].to_ascii_uppercase() as char;
    let candidates: Vec<char> = if first.is_ascii_digit() {
        AS_DIGIT
            .iter()
            .find(|(d, _)| *d == first)
            .map(|(_, l)| l.chars().collect())
            .unwrap_or_default()
    } else {
        vec![first]
    };
    let mut valid = candidates.into_iter().filter_map(|c| {
        let mut m = c.to_string();
        m.push_str(std::str::from_utf8(&body).ok()?);
        crate::identifiers::upn_valid(&m).then_some(m)
    });
    let m = valid.next()?;
    // Two readings both valid: not sure which, so neither.
    if valid.next().is_some() {
        return None;
    }
    Some(word.replacen(core, &m, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upns_misread_by_ocr_are_mended_and_other_numbers_are_not() {
        // B201439623222 read as 8201439623222, T330128913431 as 7330128913431.
        assert_eq!(mend_upn("8201439623222").as_deref(), Some("B201439623222"));
        assert_eq!(
            mend_upn("7330128913431,").as_deref(),
            Some("T330128913431,")
        );
        assert_eq!(mend_upn("B2O1439623222").as_deref(), Some("B201439623222"));
        // Already valid, or no valid reading: left alone.
        assert_eq!(mend_upn("B201439623222"), None);
        assert_eq!(mend_upn("8201439623223"), None);
        assert_eq!(mend_upn("5012345678900"), None);
        assert_eq!(mend_upn("Walker"), None);
    }

    #[test]
    fn tsv_lines_and_column_gaps() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
            1\t1\t0\t0\t0\t0\t0\t0\t800\t600\t-1\t\n\
            5\t1\t1\t1\t1\t1\t10\t10\t60\t20\t95\tWalker\n\
            5\t1\t1\t1\t1\t2\t200\t10\t50\t20\t95\tLeah\n\
            5\t1\t1\t1\t1\t3\t255\t10\t40\t20\t95\tMay\n\
            5\t1\t1\t1\t2\t1\t10\t40\t60\t20\t95\tYoung\n\
            5\t1\t1\t2\t1\t1\t10\t80\t60\t20\t95\tNotes\n\
            5\t2\t1\t1\t1\t1\t10\t10\t60\t20\t95\tpage2\n";
        let pages = tsv_pages(tsv, true);
        assert_eq!(
            pages,
            vec![
                (Some(1), "Walker\tLeah May\nYoung\n\nNotes\n".to_string()),
                (Some(2), "page2\n".to_string())
            ]
        );
        assert_eq!(tsv_pages(tsv, false)[0].0, None);
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        let s = Settings::default();
        assert!(matches!(
            check_size(100_000, 100_000, &s, "PNG image"),
            Err(NoText::NotRead(_))
        ));
        assert!(matches!(
            check_size(1, 1, &s, "GIF image"),
            Err(NoText::TooSmall(_))
        ));
        assert!(matches!(
            check_size(16, 16, &s, "PNG image"),
            Err(NoText::TooSmall(_))
        ));
        assert!(check_size(180, 16, &s, "PNG image").is_ok());
    }

    #[test]
    fn median_removes_speckle_and_keeps_strokes() {
        let mut img = image::GrayImage::from_pixel(9, 9, image::Luma([255]));
        img.put_pixel(2, 2, image::Luma([0]));
        for y in 0..9 {
            img.put_pixel(6, y, image::Luma([0]));
            img.put_pixel(7, y, image::Luma([0]));
        }
        let m = median3(&img);
        assert_eq!(m.get_pixel(2, 2).0, [255]);
        assert_eq!(m.get_pixel(6, 4).0, [0]);
        assert_eq!(m.get_pixel(7, 4).0, [0]);
    }

    #[test]
    fn transparent_pictures_are_flattened_onto_white() {
        let img = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            2,
            2,
            image::Rgba([0, 0, 0, 0]),
        ));
        assert_eq!(flatten(&img).get_pixel(0, 0).0, [255]);
    }
}
